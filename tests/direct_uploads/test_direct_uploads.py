"""Blob uploads harborlite writes into the registry's storage itself, against a real
``harborlite serve`` and its real registry: every kind of upload, every refusal, and the blob
served afterwards by the registry on its own port and by harborlite."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import Harborlite, own_harborlite
from tests.support.polling import eventually

STORAGE = Path("registry/docker/registry/v2")


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite()


@pytest.fixture(scope="module")
def repository(server: Harborlite) -> str:
    project = server.unique("direct")
    server.create_project(project)
    return f"{project}/app"


@pytest.fixture(scope="module")
def client(server: Harborlite, repository: str) -> Iterator[httpx.Client]:
    token = server.token(f"repository:{repository}:pull,push", server.admin)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def storage(server: Harborlite) -> Path:
    return server.data_dir / STORAGE


def uploads_of(server: Harborlite, repository: str) -> set[str]:
    folder = storage(server) / "repositories" / repository / "_uploads"
    return set(os.listdir(folder)) if folder.is_dir() else set()


def assert_served(server: Harborlite, client: httpx.Client, repository: str, data: bytes) -> None:
    """The blob is in the registry's layout, and served by the registry and by harborlite."""
    digest = digest_of(data)
    hexdigest = digest.split(":")[1]
    blob = storage(server) / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data"
    assert blob.read_bytes() == data
    link = storage(server) / "repositories" / repository / "_layers" / "sha256" / hexdigest
    assert (link / "link").read_bytes() == digest.encode()
    with httpx.Client(base_url=server.registry_url(), headers=client.headers) as registry:
        head = registry.head(f"/v2/{repository}/blobs/{digest}")
        assert head.status_code == 200, head.text
        assert head.headers["Content-Length"] == str(len(data))
        assert registry.get(f"/v2/{repository}/blobs/{digest}").content == data
    served = client.get(f"/v2/{repository}/blobs/{digest}")
    assert served.status_code == 200
    assert served.content == data


def logged(server: Harborlite, method: str, fragment: str, via: str) -> None:
    def found() -> bool:
        return any(
            line.startswith(f"{method} ") or f" {method} /v2/" in line
            for line in server.log_path.read_text().splitlines()
            if fragment in line and f"via={via}" in line
        )

    eventually(found, f"{method} {fragment} logged via={via}", timeout=5)


def start(client: httpx.Client, repository: str) -> httpx.Response:
    started = client.post(f"/v2/{repository}/blobs/uploads/")
    assert started.status_code == 202, started.text
    return started


def test_monolithic_upload_is_written_by_harborlite(
    server: Harborlite, client: httpx.Client, repository: str
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one slice
    started = start(client, repository)
    upload = started.headers["Docker-Upload-UUID"]
    location = started.headers["Location"]
    assert location == f"{server.url}/v2/{repository}/blobs/uploads/{upload}?_upload=harborlite"
    assert started.headers["Range"] == "0-0"
    assert started.headers["Content-Length"] == "0"
    assert (
        storage(server) / "repositories" / repository / "_uploads" / upload / "startedat"
    ).exists()
    done = client.put(f"{location}&digest={digest_of(data)}", content=data)
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest_of(data)
    assert done.headers["Location"] == f"{server.url}/v2/{repository}/blobs/{digest_of(data)}"
    assert upload not in uploads_of(server, repository)
    assert_served(server, client, repository, data)
    logged(server, "PUT", upload, "direct")


def test_chunked_upload_with_status_and_resume(
    server: Harborlite, client: httpx.Client, repository: str
) -> None:
    first, second = os.urandom(1500 * 1024), os.urandom(700 * 1024)
    location = start(client, repository).headers["Location"]
    chunk = client.patch(
        location,
        content=first,
        headers={
            "Content-Range": f"0-{len(first) - 1}",
            "Content-Type": "application/octet-stream",
        },
    )
    assert chunk.status_code == 202, chunk.text
    assert chunk.headers["Range"] == f"0-{len(first) - 1}"
    location = chunk.headers["Location"]
    status = client.get(location)  # a client resuming asks where the upload stands
    assert status.status_code == 204
    assert status.headers["Range"] == f"0-{len(first) - 1}"
    assert status.headers["Docker-Upload-UUID"] in location
    end = len(first) + len(second) - 1
    chunk = client.patch(location, content=second, headers={"Content-Range": f"{len(first)}-{end}"})
    assert chunk.status_code == 202, chunk.text
    assert chunk.headers["Range"] == f"0-{end}"
    done = client.put(f"{location}&digest={digest_of(first + second)}")
    assert done.status_code == 201, done.text
    assert_served(server, client, repository, first + second)


def test_single_post_upload(server: Harborlite, client: httpx.Client, repository: str) -> None:
    data = os.urandom(40_000)
    done = client.post(f"/v2/{repository}/blobs/uploads/?digest={digest_of(data)}", content=data)
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest_of(data)
    assert_served(server, client, repository, data)


def test_a_blob_already_stored_is_kept_and_the_upload_dropped(
    server: Harborlite, client: httpx.Client, repository: str
) -> None:
    data = os.urandom(10_000)
    digest = digest_of(data)
    assert (
        client.post(f"/v2/{repository}/blobs/uploads/?digest={digest}", content=data).status_code
        == 201
    )
    location = start(client, repository).headers["Location"]
    upload = location.rsplit("/", 1)[1].split("?")[0]
    again = client.put(f"{location}&digest={digest}", content=data)
    assert again.status_code == 201, again.text
    assert upload not in uploads_of(server, repository)
    assert_served(server, client, repository, data)


def test_a_chunk_at_the_wrong_offset_is_416_and_the_upload_goes_on(
    server: Harborlite, client: httpx.Client, repository: str
) -> None:
    data = b"0123456789"
    location = start(client, repository).headers["Location"]
    wrong = client.patch(location, content=data[5:], headers={"Content-Range": "5-9"})
    assert wrong.status_code == 416
    assert wrong.json()["errors"][0]["code"] == "RANGE_INVALID"
    assert client.get(location).headers["Range"] == "0-0"
    short = client.patch(location, content=data, headers={"Content-Range": "0-3"})
    assert short.status_code == 400  # the length does not match the range
    assert short.json()["errors"][0]["code"] == "SIZE_INVALID"
    right = client.patch(location, content=data, headers={"Content-Range": "0-9"})
    assert right.status_code == 202
    assert client.put(f"{location}&digest={digest_of(data)}").status_code == 201


def test_a_wrong_digest_is_400_and_leaves_nothing(
    server: Harborlite, client: httpx.Client, repository: str
) -> None:
    data = os.urandom(5000)
    claimed = digest_of(b"something else")
    location = start(client, repository).headers["Location"]
    upload = location.rsplit("/", 1)[1].split("?")[0]
    wrong = client.put(f"{location}&digest={claimed}", content=data)
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert wrong.json()["errors"][0]["detail"] == {"Digest": claimed, "Reason": {}}
    assert upload not in uploads_of(server, repository)
    hexdigests = {digest_of(data).split(":")[1], claimed.split(":")[1]}
    assert not any((storage(server) / "blobs/sha256" / h[:2] / h).exists() for h in hexdigests)
    assert client.head(f"/v2/{repository}/blobs/{claimed}").status_code == 404
    gone = client.get(location)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    single = client.post(f"/v2/{repository}/blobs/uploads/?digest={claimed}", content=data)
    assert single.status_code == 400
    assert single.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert uploads_of(server, repository) <= uploads_before_cleanup(server, repository)


def uploads_before_cleanup(server: Harborlite, repository: str) -> set[str]:
    """The uploads other tests of this module left open on purpose (none complete wrongly)."""
    return {
        u
        for u in uploads_of(server, repository)
        if (storage(server) / "repositories" / repository / "_uploads" / u / "data").stat().st_size
        == 0
    }


def test_a_completion_without_digest_is_refused(
    server: Harborlite, client: httpx.Client, repository: str
) -> None:
    location = start(client, repository).headers["Location"]
    refused = client.put(location, content=b"abc")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "DIGEST_INVALID"
    bad = client.put(f"{location}&digest=sha256:nothex")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert client.delete(location).status_code == 204


def test_cancel(server: Harborlite, client: httpx.Client, repository: str) -> None:
    location = start(client, repository).headers["Location"]
    upload = location.rsplit("/", 1)[1].split("?")[0]
    assert client.patch(location, content=b"partial").status_code == 202
    assert upload in uploads_of(server, repository)
    cancelled = client.delete(location)
    assert cancelled.status_code == 204
    assert cancelled.headers["Docker-Upload-UUID"] == upload
    assert upload not in uploads_of(server, repository)
    for answer in (
        client.get(location),
        client.patch(location, content=b"x"),
        client.delete(location),
    ):
        assert answer.status_code == 404
        assert answer.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    unknown = client.put(f"/v2/{repository}/blobs/uploads/not-an-upload?digest={digest_of(b'')}")
    assert unknown.status_code == 404


def test_an_upload_the_registry_started_stays_with_the_registry(
    server: Harborlite, client: httpx.Client, repository: str
) -> None:
    data = os.urandom(2000)
    missing = digest_of(b"never uploaded")
    # a mount of a blob that is not there: the registry starts an upload of its own
    started = client.post(f"/v2/{repository}/blobs/uploads/?mount={missing}&from={repository}")
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    assert "_state=" in location
    done = client.put(f"{location}&digest={digest_of(data)}", content=data)
    assert done.status_code == 201, done.text
    logged(server, "PUT", started.headers["Docker-Upload-UUID"], "proxy")
    assert_served(server, client, repository, data)


def test_a_push_past_the_quota_is_refused_and_stores_nothing(server: Harborlite) -> None:
    project = server.unique("directquota")
    created = server.api(
        "POST",
        "/projects",
        auth=server.admin,
        json={"project_name": project, "storage_limit": 10_000},
    )
    assert created.status_code == 201, created.text
    repository = f"{project}/app"
    token = server.token(f"repository:{repository}:pull,push", server.admin)
    data = os.urandom(20_000)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        single = client.post(
            f"/v2/{repository}/blobs/uploads/?digest={digest_of(data)}", content=data
        )
        assert single.status_code == 403, single.text
        assert single.json()["errors"][0]["code"] == "DENIED"
        location = start(client, repository).headers["Location"]
        refused = client.put(f"{location}&digest={digest_of(data)}", content=data)
        assert refused.status_code == 403, refused.text
        assert "exceed the configured upper limit" in refused.json()["errors"][0]["message"]
        hexdigest = digest_of(data).split(":")[1]
        assert not (storage(server) / "blobs/sha256" / hexdigest[:2] / hexdigest).exists()
        small = os.urandom(3000)  # within the limit: it goes
        assert client.put(f"{location}&digest={digest_of(small)}", content=small).status_code == 201


def test_the_answers_carry_the_registrys_headers(
    server: Harborlite, client: httpx.Client, repository: str
) -> None:
    """The same header names as the registry's own answers, step by step."""
    ignored = {"date", "x-request-id", "content-type"}

    def names(response: httpx.Response) -> set[str]:
        return {key.lower() for key in response.headers} - ignored

    answers: dict[str, list[set[str]]] = {}
    for side, base in (("registry", server.registry_url()), ("harborlite", server.url)):
        with httpx.Client(base_url=base, headers=client.headers) as each:
            started = each.post(f"/v2/{repository}/blobs/uploads/")
            chunk = each.patch(started.headers["Location"], content=b"0123456789")
            location = chunk.headers["Location"]
            status = each.get(location)
            separator = "&" if "?" in location else "?"
            done = each.put(f"{location}{separator}digest={digest_of(b'0123456789')}")
            assert [
                started.status_code,
                chunk.status_code,
                status.status_code,
                done.status_code,
            ] == [
                202,
                202,
                204,
                201,
            ]
            assert chunk.headers["Range"] == status.headers["Range"] == "0-9"
            answers[side] = [names(started), names(chunk), names(status), names(done)]
    assert answers["harborlite"] == answers["registry"]
