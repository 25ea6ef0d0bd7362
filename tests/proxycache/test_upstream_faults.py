"""Upstream faults, against a registry in a thread that can cut a blob's stream: a broken stream
leaves nothing in the local registry (no blob, no upload left open) and the next pull fetches it
again; a tag gone upstream is a 404, unless ``proxy_cache_local_on_not_found`` serves the cache."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.harness import Harborlite, own_harborlite
from tests.proxycache.broken_upstream import BrokenUpstream
from tests.proxycache.support import Puller, add_endpoint, create_proxy_project, digest_of
from tests.support.polling import eventually

CHECK_SECONDS = 1
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def upstream() -> Iterator[BrokenUpstream]:
    server = BrokenUpstream()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite(extra_env={"HARBORLITE_PROXY_CHECK_SECONDS": str(CHECK_SECONDS)})


@pytest.fixture(scope="module")
def endpoint_id(server: Harborlite, upstream: BrokenUpstream) -> int:
    return add_endpoint(server, "threaded", "docker-registry", upstream.url)


@pytest.fixture
def puller(server: Harborlite) -> Iterator[Puller]:
    client = Puller(server)
    try:
        yield client
    finally:
        client.close()


def _image(
    upstream: BrokenUpstream, repository: str, tag: str, layer_size: int
) -> tuple[bytes, bytes]:
    layer = os.urandom(layer_size)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest_of(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    upstream.blobs[digest_of(layer)] = layer
    upstream.blobs[digest_of(config)] = config
    upstream.manifests[f"{repository}:{tag}"] = (manifest, OCI_MANIFEST)
    upstream.manifests[f"{repository}:{digest_of(manifest)}"] = (manifest, OCI_MANIFEST)
    return manifest, layer


def _storage(server: Harborlite) -> Path:
    config = yaml.safe_load((server.data_dir / "registry.yml").read_text())
    return Path(config["storage"]["filesystem"]["rootdirectory"]) / "docker/registry/v2"


def test_a_broken_stream_leaves_nothing_behind(
    server: Harborlite, upstream: BrokenUpstream, endpoint_id: int, puller: Puller
) -> None:
    project = server.unique("faulty")
    assert create_proxy_project(server, project, endpoint_id).status_code == 201
    manifest, layer = _image(upstream, "team/app", "1", 512 * 1024)
    upstream.broken.add(digest_of(layer))
    repository = f"{project}/team/app"
    assert puller.manifest(repository, "1").content == manifest
    try:
        cut = puller.blob(repository, digest_of(layer))
        assert cut.content != layer  # a short body, never the wrong bytes as complete
    except httpx.HTTPError:
        pass  # the connection was cut: what a client sees of a broken download

    repo_dir = _storage(server) / "repositories" / project / "team/app"

    def settled() -> bool:
        uploads = repo_dir / "_uploads"
        return not uploads.exists() or not any(uploads.iterdir())

    eventually(settled, "the broken upload cancelled", 10)
    hexdigest = digest_of(layer).split(":")[1]
    assert not (repo_dir / "_layers" / "sha256" / hexdigest).exists()
    assert not (_storage(server) / "blobs" / "sha256" / hexdigest[:2] / hexdigest).exists()

    upstream.broken.clear()  # upstream mended: the next pull fetches it and keeps it
    time.sleep(CHECK_SECONDS + 0.2)
    assert puller.manifest(repository, "1").content == manifest
    assert puller.blob(repository, digest_of(layer)).content == layer
    eventually(lambda: (repo_dir / "_layers" / "sha256" / hexdigest).exists(), "the blob kept", 10)


def test_wrong_bytes_from_upstream_are_never_kept_nor_served_whole(
    server: Harborlite, upstream: BrokenUpstream, endpoint_id: int, puller: Puller
) -> None:
    project = server.unique("corrupt")
    assert create_proxy_project(server, project, endpoint_id).status_code == 201
    manifest, layer = _image(upstream, "team/bad", "1", 256 * 1024)
    upstream.corrupt.add(digest_of(layer))
    repository = f"{project}/team/bad"
    assert puller.manifest(repository, "1").content == manifest
    try:
        answer = puller.blob(repository, digest_of(layer))
        assert len(answer.content) < len(layer)  # cut before its end: never a whole wrong blob
    except httpx.HTTPError:
        pass
    repo_dir = _storage(server) / "repositories" / project / "team/bad"
    hexdigest = digest_of(layer).split(":")[1]
    time.sleep(1)
    assert not (repo_dir / "_layers" / "sha256" / hexdigest).exists()
    uploads = repo_dir / "_uploads"
    assert not uploads.exists() or not any(uploads.iterdir())
    upstream.corrupt.clear()


@pytest.mark.parametrize("local_on_not_found", [False, True])
def test_a_tag_gone_upstream(
    server: Harborlite,
    upstream: BrokenUpstream,
    endpoint_id: int,
    puller: Puller,
    local_on_not_found: bool,
) -> None:
    project = server.unique("gone")
    flag = {"proxy_cache_local_on_not_found": "true" if local_on_not_found else "false"}
    assert create_proxy_project(server, project, endpoint_id, flag).status_code == 201
    name = f"lib/gone{project[-6:]}".replace("-", "")
    manifest, layer = _image(upstream, name, "old", 1024)
    repository = f"{project}/{name}"
    assert puller.manifest(repository, "old").content == manifest
    assert puller.blob(repository, digest_of(layer)).content == layer

    def kept() -> bool:
        found = server.api(
            "GET",
            f"/projects/{project}/repositories/{name.replace('/', '%252F')}/artifacts",
            auth=server.admin,
        )
        return found.status_code == 200 and bool(found.json())

    eventually(kept, "the pull kept", 15)
    del upstream.manifests[f"{name}:old"]
    time.sleep(CHECK_SECONDS + 0.2)
    answer = puller.manifest(repository, "old")
    if local_on_not_found:
        assert answer.status_code == 200, answer.text
        assert answer.content == manifest
    else:
        assert answer.status_code == 404
        assert answer.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
