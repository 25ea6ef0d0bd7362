"""Proxy-cache projects end to end: a real harborlite (with its registry) pulling through a
Docker Hub stand-in (a real process in front of a real docker-registry) and a bare
docker-registry."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.harness import Harborlite, own_harborlite
from tests.proxycache.support import (
    Puller,
    add_endpoint,
    create_proxy_project,
    digest_of,
    push_upstream,
    push_upstream_index,
)
from tests.remote.hub_standin import HubStandin
from tests.support.clients import skopeo_copy
from tests.support.polling import eventually
from tests.support.processes import RegistryServer

CHECK_SECONDS = 2


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStandin]:
    standin = HubStandin.start(tmp_path_factory.mktemp("hub"))
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite(extra_env={"HARBORLITE_PROXY_CHECK_SECONDS": str(CHECK_SECONDS)})


@pytest.fixture(scope="module")
def hub_id(server: Harborlite, hub: HubStandin) -> int:
    return add_endpoint(server, "hub", "docker-hub", hub.url)


@pytest.fixture
def project(server: Harborlite, hub_id: int) -> str:
    name = server.unique("hubcache")
    response = create_proxy_project(server, name, hub_id)
    assert response.status_code == 201, response.text
    return name


@pytest.fixture
def puller(server: Harborlite) -> Iterator[Puller]:
    client = Puller(server)
    try:
        yield client
    finally:
        client.close()


def upstream_gets(hub: HubStandin, prefix: str) -> int:
    return sum(n for key, n in hub.counts().items() if key.startswith(f"GET {prefix}"))


def upstream_heads(hub: HubStandin, prefix: str) -> int:
    return sum(n for key, n in hub.counts().items() if key.startswith(f"HEAD {prefix}"))


def test_first_pull_streams_through_and_is_cached(
    server: Harborlite, hub: HubStandin, project: str, puller: Puller
) -> None:
    name = f"nginx{project[-6:]}".replace("-", "")
    image = push_upstream(hub.registry_url, f"library/{name}", "1.25", 3 * 1024 * 1024, 1000)
    repository = f"{project}/{name}"  # Docker Hub's single name: library/<name> upstream

    got = puller.manifest(repository, "1.25")
    assert got.status_code == 200, got.text
    assert got.content == image.manifest
    assert got.headers["Docker-Content-Digest"] == image.digest
    for blob in (image.config, *image.layers):
        answer = puller.blob(repository, digest_of(blob))
        assert answer.status_code == 200, answer.text
        assert answer.content == blob

    artifacts = eventually(lambda: _cached(server, project, name), "the pull indexed", 20)
    assert artifacts[0]["digest"] == image.digest
    assert [t["name"] for t in artifacts[0]["tags"]] == ["1.25"]  # type: ignore[attr-defined]

    # once kept, pulls are served locally: no blob or manifest GET goes upstream again
    blob_gets = upstream_gets(hub, f"/v2/library/{name}/blobs/")
    manifest_gets = upstream_gets(hub, f"/v2/library/{name}/manifests/")
    assert blob_gets == 3 and manifest_gets == 1  # config and two layers, once each
    for blob in (image.config, *image.layers):
        assert puller.blob(repository, digest_of(blob)).content == blob
    assert puller.manifest(repository, image.digest).content == image.manifest
    assert upstream_gets(hub, f"/v2/library/{name}/blobs/") == blob_gets
    assert upstream_gets(hub, f"/v2/library/{name}/manifests/") == manifest_gets


def test_concurrent_first_pulls_fetch_once(
    server: Harborlite, hub: HubStandin, hub_id: int
) -> None:
    # 8192 kbit/s: the 2 MiB layer takes about 2 s upstream, so every client arrives during it
    project = server.unique("slowcache")
    created = create_proxy_project(server, project, hub_id, {"proxy_speed_kb": "8192"})
    assert created.status_code == 201, created.text
    name = f"team/app{project[-6:]}".replace("-", "")
    image = push_upstream(hub.registry_url, name, "v1", 2 * 1024 * 1024)
    repository = f"{project}/{name}"
    layer = image.layers[0]
    started = time.monotonic()

    def pull(_: int) -> tuple[bytes, bytes]:
        client = Puller(server)
        try:
            manifest = client.manifest(repository, "v1")
            blob = client.blob(repository, digest_of(layer))
            return manifest.content, blob.content
        finally:
            client.close()

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(pull, range(6)))
    assert all(manifest == image.manifest and blob == layer for manifest, blob in results)
    assert time.monotonic() - started > 1.5  # proxy_speed_kb held the transfer back
    assert upstream_gets(hub, f"/v2/{name}/blobs/{digest_of(layer)}") == 1
    assert upstream_gets(hub, f"/v2/{name}/manifests/") == 1


def test_tag_checks_honour_the_interval_and_429_serves_the_cache(
    server: Harborlite, hub: HubStandin, project: str, puller: Puller
) -> None:
    name = f"tools/cli{project[-6:]}".replace("-", "")
    image = push_upstream(hub.registry_url, name, "stable", 1024)
    repository = f"{project}/{name}"
    assert puller.manifest(repository, "stable").status_code == 200
    eventually(lambda: _cached(server, project, name), "the pull indexed", 20)
    heads = upstream_heads(hub, f"/v2/{name}/manifests/stable")
    for _ in range(4):  # within the interval: no check upstream, and client HEADs are local
        assert puller.manifest(repository, "stable", "HEAD").status_code == 200
        assert puller.manifest(repository, "stable").content == image.manifest
    assert upstream_heads(hub, f"/v2/{name}/manifests/stable") <= heads + 1
    assert upstream_gets(hub, f"/v2/{name}/manifests/") == 1

    time.sleep(CHECK_SECONDS + 0.5)
    hub.throttle(10, retry_after=30, path_contains=f"/v2/{name}/")
    answer = puller.manifest(repository, "stable")
    assert answer.status_code == 200, answer.text
    assert answer.content == image.manifest
    assert any(key.startswith(f"HEAD /v2/{name}/manifests/stable") for key in hub.counts())
    assert "serving the cached copy" in server.log()
    hub.reset()


def test_a_429_without_a_cached_copy_goes_to_the_client(
    server: Harborlite, hub: HubStandin, project: str, puller: Puller
) -> None:
    name = f"busy{project[-6:]}".replace("-", "")
    push_upstream(hub.registry_url, f"library/{name}", "1", 1024)
    hub.throttle(5, retry_after=9, path_contains=f"/v2/library/{name}/")
    answer = puller.manifest(f"{project}/{name}", "1")
    hub.reset()
    assert answer.status_code == 429
    assert answer.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert answer.json()["errors"][0]["message"] == "too many requests to upstream registry"


def test_an_index_is_kept_with_its_children(
    server: Harborlite, hub: HubStandin, project: str, puller: Puller
) -> None:
    name = f"multi{project[-6:]}".replace("-", "")
    index, digest = push_upstream_index(hub.registry_url, f"library/{name}", "latest")
    answer = puller.manifest(f"{project}/{name}", "latest")
    assert answer.status_code == 200 and answer.content == index
    found = eventually(lambda: _cached(server, project, name), "the pull indexed", 20)
    assert found[0]["digest"] == digest


def _cached(server: Harborlite, project: str, name: str) -> list[dict[str, object]] | None:
    encoded = name.replace("/", "%252F")
    found = server.api(
        "GET", f"/projects/{project}/repositories/{encoded}/artifacts", auth=server.admin
    )
    if found.status_code != 200:
        return None
    tagged: list[dict[str, object]] = [a for a in found.json() if a.get("tags")]
    return tagged or None


def test_a_cached_image_is_served_with_the_upstream_stopped(
    server: Harborlite, tmp_path: Path, puller: Puller
) -> None:
    upstream = RegistryServer(tmp_path / "bare")
    try:
        endpoint_id = add_endpoint(server, server.unique("bare"), "docker-registry", upstream.url)
        project = server.unique("barecache")
        created = create_proxy_project(server, project, endpoint_id)
        assert created.status_code == 201, created.text
        image = push_upstream(upstream.url, "library/redis", "7", 100_000)
        repository = f"{project}/library/redis"  # no library/ added for a plain registry
        assert puller.manifest(repository, "7").content == image.manifest
        for blob in (image.config, *image.layers):
            assert puller.blob(repository, digest_of(blob)).content == blob
        eventually(lambda: _cached(server, project, "library/redis"), "the pull indexed", 20)
    finally:
        upstream.stop()
    time.sleep(CHECK_SECONDS + 0.5)  # the next pull checks upstream, which is gone
    answer = puller.manifest(repository, "7")
    assert answer.status_code == 200, answer.text
    assert answer.content == image.manifest
    for blob in (image.config, *image.layers):
        assert puller.blob(repository, digest_of(blob)).content == blob


def test_skopeo_pulls_a_multi_arch_image_through_the_cache(
    server: Harborlite, hub: HubStandin, project: str, tmp_path: Path
) -> None:
    """A real client: skopeo copies every platform of an index out of the proxy project."""
    name = f"sko{project[-6:]}".replace("-", "")
    _, digest = push_upstream_index(hub.registry_url, f"library/{name}", "3")
    target = tmp_path / "layout"
    skopeo_copy(
        f"docker://{server.host}/{project}/{name}:3",
        f"oci:{target}:3",
        creds=server.admin,
        all_images=True,
    )
    assert json.loads((target / "index.json").read_text())["manifests"]
    found = eventually(lambda: _cached(server, project, name), "the pull indexed", 20)
    assert found[0]["digest"] == digest
