"""An image's config is read from the registry's filesystem storage when the repository links
it there (no request to the registry), else asked of the registry as before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from harborlite.artifacts.describe import describe_manifest
from harborlite.storage import layout
from harborlite.storage.filesystem import FilesystemStorage
from harborlite.upstream.client import ANSWER_LIMIT, Upstream
from tests.api.pushing import OCI_MANIFEST, digest_of, image_manifest

REPOSITORY = "library/app"
CONFIG = json.dumps({"architecture": "arm64", "os": "linux", "author": "tests"}).encode()
LAYER = b"a layer"


class RegistryAsked:
    """Stands for :class:`Upstream`: answers a config GET with ``CONFIG`` and counts them."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def fetch(self, method: str, repository: str, path: str, *_: Any) -> Any:
        self.paths.append(path)
        return 200, {}, CONFIG


def stored(root: Path, data: bytes, *, linked: bool = True) -> None:
    digest = digest_of(data)
    blob = root / str(layout.blob_data(digest))
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    if linked:
        link = root / str(layout.layer_link(REPOSITORY, digest))
        link.parent.mkdir(parents=True)
        link.write_bytes(digest.encode())


async def described(storage: FilesystemStorage | None, registry: RegistryAsked) -> dict[str, Any]:
    body = image_manifest(CONFIG, LAYER)
    pushed = await describe_manifest(
        cast(Upstream, registry),
        cast(Any, None),  # an image's description runs no query
        REPOSITORY,
        body,
        OCI_MANIFEST,
        digest_of(body),
        storage=storage,
    )
    return pushed.extra_attrs


async def test_a_linked_config_is_read_from_storage(tmp_path: Path) -> None:
    stored(tmp_path, CONFIG)
    registry = RegistryAsked()
    attrs = await described(FilesystemStorage(tmp_path), registry)
    assert attrs["architecture"] == "arm64" and attrs["author"] == "tests"
    assert registry.paths == []


async def test_a_config_the_repository_does_not_link_is_asked_of_the_registry(
    tmp_path: Path,
) -> None:
    stored(tmp_path, CONFIG, linked=False)
    registry = RegistryAsked()
    attrs = await described(FilesystemStorage(tmp_path), registry)
    assert attrs["architecture"] == "arm64"
    assert registry.paths == [f"/v2/{REPOSITORY}/blobs/{digest_of(CONFIG)}"]


async def test_a_config_missing_from_storage_is_asked_of_the_registry(tmp_path: Path) -> None:
    registry = RegistryAsked()
    attrs = await described(FilesystemStorage(tmp_path), registry)
    assert attrs["os"] == "linux"
    assert len(registry.paths) == 1


async def test_a_config_larger_than_an_answer_is_left_to_the_registry(tmp_path: Path) -> None:
    stored(tmp_path, CONFIG)
    blob = tmp_path / str(layout.blob_data(digest_of(CONFIG)))
    with blob.open("r+b") as file:  # the same name, grown past what harborlite reads
        file.truncate(ANSWER_LIMIT + 1)
    registry = RegistryAsked()
    await described(FilesystemStorage(tmp_path), registry)
    assert len(registry.paths) == 1


async def test_without_storage_the_registry_is_asked(tmp_path: Path) -> None:
    registry = RegistryAsked()
    attrs = await described(None, registry)
    assert attrs["architecture"] == "arm64"
    assert len(registry.paths) == 1
