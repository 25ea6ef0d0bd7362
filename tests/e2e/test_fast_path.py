"""The fast data path answers exactly as the registry would: cached manifests, blobs read
from storage, and never anything of another repository."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.harness import Harborlite
from tests.support.clients import skopeo_copy
from tests.support.images import build_oci_layout

ACCEPT_ALL = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
COMPARED = (
    "content-type",
    "content-length",
    "docker-content-digest",
    "docker-distribution-api-version",
    "etag",
    "x-content-type-options",
)


def registry_url(server: Harborlite) -> str:
    config = yaml.safe_load((server.data_dir / "registry.yml").read_text())
    return "http://" + str(config["http"]["addr"])


@contextlib.contextmanager
def registry_paused(server: Harborlite) -> Iterator[None]:
    """The server's registry child frozen (SIGSTOP) for the block: what is answered meanwhile
    was answered without it. Resumed however the block ends."""
    started = [x for x in server.log_path.read_text().splitlines() if "registry started (pid" in x]
    pid = int(started[-1].rsplit("registry started (pid ", 1)[1].split(")")[0])
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def access_line(server: Harborlite, request_id: str, seconds: float = 10) -> str:
    """The access-log line of the request sent with ``X-Request-Id: request_id``: it is
    written after the answer went out, so it is waited for (with a deadline)."""
    deadline = time.monotonic() + seconds
    while True:
        for line in server.log_path.read_text(errors="replace").splitlines():
            if f"rid={request_id}" in line and "harborlite.access" in line:
                return line
        assert time.monotonic() < deadline, f"no access-log line with rid={request_id}"
        time.sleep(0.05)


def request_id() -> str:
    return uuid.uuid4().hex


@pytest.fixture(scope="module")
def setup(
    harborlite_sqlite: Harborlite, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    server = harborlite_sqlite
    project = server.unique("fast")
    server.create_project(project, public=False)
    layout = tmp_path_factory.mktemp("fast") / "layout"
    image = build_oci_layout(layout, "v1", [64 * 1024], seed=41)
    skopeo_copy(f"oci:{layout}:v1", f"docker://{server.host}/{project}/a:v1", creds=server.admin)
    token = server.token(
        [f"repository:{project}/a:pull,push,delete", f"repository:{project}/b:pull,push"],
        server.admin,
    )
    return {
        "project": project,
        "digest": image.manifest_digest,
        "layer": image.layer_digests[0],
        "token": token,
        "layout": str(layout),
    }


def get(
    base: str,
    method: str,
    path: str,
    token: str,
    accept: str | None = ACCEPT_ALL,
    *,
    rid: str | None = None,
    timeout: float = 30,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if accept is not None:
        headers["Accept"] = accept
    if rid is not None:
        headers["X-Request-Id"] = rid
    return httpx.request(method, base + path, headers=headers, timeout=timeout)


def test_cached_manifest_answers_are_the_registry_answers(
    harborlite_sqlite: Harborlite, setup: dict[str, str]
) -> None:
    server, project, token = harborlite_sqlite, setup["project"], setup["token"]
    for reference in ("v1", setup["digest"]):
        path = f"/v2/{project}/a/manifests/{reference}"
        direct = get(registry_url(server), "GET", path, token)
        assert direct.status_code == 200
        for method in ("GET", "HEAD", "GET", "HEAD"):
            answer = get(server.url, method, path, token)
            assert answer.status_code == 200
            for name in COMPARED:
                assert answer.headers.get(name) == direct.headers.get(name), (method, name)
            if method == "GET":
                assert answer.content == direct.content
        # answered from the cache: the same answers with the registry frozen
        with registry_paused(server):
            for method in ("GET", "HEAD"):
                rid = request_id()
                answer = get(server.url, method, path, token, rid=rid, timeout=5)
                assert answer.status_code == 200
                for name in COMPARED:
                    assert answer.headers.get(name) == direct.headers.get(name), (method, name)
                assert answer.content == (direct.content if method == "GET" else b"")
                line = access_line(server, rid)
                assert f"{method} {path} 200" in line and "via=cache" in line


def test_never_served_through_another_repository(
    harborlite_sqlite: Harborlite, setup: dict[str, str]
) -> None:
    server, project, token = harborlite_sqlite, setup["project"], setup["token"]
    get(server.url, "GET", f"/v2/{project}/a/manifests/{setup['digest']}", token)
    for path in (
        f"/v2/{project}/b/manifests/{setup['digest']}",
        f"/v2/{project}/b/manifests/v1",
        f"/v2/{project}/b/blobs/{setup['layer']}",
    ):
        for method in ("GET", "HEAD"):
            assert get(server.url, method, path, token).status_code == 404, (method, path)


def test_accept_is_honoured_as_the_registry_does(
    harborlite_sqlite: Harborlite, setup: dict[str, str]
) -> None:
    server, project, token = harborlite_sqlite, setup["project"], setup["token"]
    path = f"/v2/{project}/a/manifests/{setup['digest']}"
    get(server.url, "GET", path, token)  # cached now
    schema2_only = "application/vnd.docker.distribution.manifest.v2+json"
    direct = get(registry_url(server), "GET", path, token, accept=schema2_only)
    answer = get(server.url, "GET", path, token, accept=schema2_only)
    assert answer.status_code == direct.status_code
    assert answer.headers.get("content-type") == direct.headers.get("content-type")


def test_blob_from_storage_with_range(harborlite_sqlite: Harborlite, setup: dict[str, str]) -> None:
    server, project, token = harborlite_sqlite, setup["project"], setup["token"]
    path = f"/v2/{project}/a/blobs/{setup['layer']}"
    data = (Path(setup["layout"]) / "blobs" / "sha256" / setup["layer"].split(":")[1]).read_bytes()
    whole = get(server.url, "GET", path, token, accept=None)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["docker-content-digest"] == setup["layer"]
    assert whole.headers["content-length"] == str(len(data))
    assert whole.headers["content-type"] == "application/octet-stream"
    head = get(server.url, "HEAD", path, token, accept=None)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    part = httpx.get(
        server.url + path,
        headers={"Authorization": f"Bearer {token}", "Range": "bytes=10-19"},
        timeout=30,
    )
    assert part.status_code == 206 and part.content == data[10:20]
    # read from storage: the same answers with the registry frozen
    with registry_paused(server):
        rid = request_id()
        whole = get(server.url, "GET", path, token, accept=None, rid=rid, timeout=5)
        assert whole.status_code == 200 and whole.content == data
        assert "via=storage" in access_line(server, rid)
        head = get(server.url, "HEAD", path, token, accept=None, timeout=5)
        assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
        part = httpx.get(
            server.url + path,
            headers={"Authorization": f"Bearer {token}", "Range": "bytes=10-19"},
            timeout=5,
        )
        assert part.status_code == 206 and part.content == data[10:20]


def test_delete_invalidates(harborlite_sqlite: Harborlite, setup: dict[str, str]) -> None:
    server, project, token = harborlite_sqlite, setup["project"], setup["token"]
    layout = setup["layout"]
    skopeo_copy(f"oci:{layout}:v1", f"docker://{server.host}/{project}/a:gone", creds=server.admin)
    other = build_oci_layout(Path(layout), "v2", [1024], seed=42)
    skopeo_copy(
        f"oci:{layout}:v2", f"docker://{server.host}/{project}/a:moving", creds=server.admin
    )
    for reference in ("moving", other.manifest_digest):
        assert (
            get(server.url, "GET", f"/v2/{project}/a/manifests/{reference}", token).status_code
            == 200
        )
    # moving the tag through harborlite is seen at once
    skopeo_copy(
        f"oci:{layout}:v1", f"docker://{server.host}/{project}/a:moving", creds=server.admin
    )
    moved = get(server.url, "GET", f"/v2/{project}/a/manifests/moving", token)
    assert moved.headers["docker-content-digest"] == setup["digest"]
    deleted = get(server.url, "DELETE", f"/v2/{project}/a/manifests/{other.manifest_digest}", token)
    assert deleted.status_code == 202
    for method in ("GET", "HEAD"):
        answer = get(
            server.url, method, f"/v2/{project}/a/manifests/{other.manifest_digest}", token
        )
        assert answer.status_code == 404


def test_a_blob_not_linked_here_is_refused_like_the_registry(
    harborlite_sqlite: Harborlite, setup: dict[str, str]
) -> None:
    """Clients HEAD each blob before pushing it; harborlite answers that 404 from storage, with
    the registry's code, and the registry agrees (a GET is still the registry's to answer)."""
    server, project, token = harborlite_sqlite, setup["project"], setup["token"]
    unknown = "sha256:" + "7" * 64
    for repository, digest in ((f"{project}/b", setup["layer"]), (f"{project}/a", unknown)):
        path = f"/v2/{repository}/blobs/{digest}"
        ours = get(server.url, "GET", path, token, accept=None)
        theirs = get(registry_url(server), "GET", path, token, accept=None)
        assert ours.status_code == theirs.status_code == 404
        assert ours.json() == theirs.json()
        assert ours.json()["errors"][0] == {
            "code": "BLOB_UNKNOWN",
            "message": "blob unknown to registry",
            "detail": digest,
        }
        with registry_paused(server):  # answered from storage, without the registry
            rid = request_id()
            head = get(server.url, "HEAD", path, token, accept=None, rid=rid, timeout=5)
        assert head.status_code == 404 and head.content == b""
        assert head.headers["content-length"] == theirs.headers["content-length"]
        assert head.headers["docker-distribution-api-version"] == "registry/2.0"
        line = access_line(server, rid)
        assert f"HEAD {path} 404" in line and "via=storage" in line


def test_a_manifest_over_4_mib_is_refused_before_the_registry_sees_it(
    harborlite_sqlite: Harborlite, setup: dict[str, str]
) -> None:
    server, project, token = harborlite_sqlite, setup["project"], setup["token"]
    path = f"/v2/{project}/a/manifests/huge"
    refused = httpx.put(
        server.url + path,
        content=b" " * (4 * 1024 * 1024 + 1),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/vnd.oci.image.manifest.v1+json",
        },
        timeout=30,
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "errors": [{"code": "MANIFEST_INVALID", "message": "manifest is larger than 4 MiB"}]
    }
    assert get(registry_url(server), "GET", path, token).status_code == 404
