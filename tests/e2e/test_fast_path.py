"""The fast data path answers exactly as the registry would: cached manifests, blobs read
from storage, and never anything of another repository."""

from __future__ import annotations

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
    base: str, method: str, path: str, token: str, accept: str | None = ACCEPT_ALL
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if accept is not None:
        headers["Accept"] = accept
    return httpx.request(method, base + path, headers=headers, timeout=30)


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
    assert "via=cache" in server.log()


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
    assert "via=storage" in server.log()


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
        head = get(server.url, "HEAD", path, token, accept=None)
        assert head.status_code == 404 and head.content == b""
        assert head.headers["content-length"] == theirs.headers["content-length"]
        assert head.headers["docker-distribution-api-version"] == "registry/2.0"
        lines = [line for line in server.log().splitlines() if f"HEAD {path} 404" in line]
        assert lines and "via=storage" in lines[-1]
