"""Changes to the embedded registry's filesystem storage that its HTTP API cannot make.

Removing a tag, not just from harborlite's index:

Distribution 2.8 answers ``DELETE /v2/<name>/manifests/<tag>`` with 400: it deletes manifests by
digest only. With the registry's storage in reach (the embedded registry's folder,
``HARBORLITE_REGISTRY_STORAGE``, or the S3 bucket) harborlite removes the tag's folder
(``_manifests/tags/<tag>``; in S3 the objects under it), which is all a tag is to the registry:
it then stops serving the tag, stops listing it, and ``harborlite reindex`` does not bring it
back. The manifest stays, as in Harbor. With an external registry whose storage harborlite
cannot reach, the tag stays in the registry; the index forgets it.

Removing a repository: after its manifests are deleted over HTTP, its folder (the ``_layers``
links among it) goes too, so a project re-created under the same name cannot pull the old,
possibly private layers by digest. The blobs stay in ``blobs/`` until a garbage collection.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from harborlite.errors import BadRequest, HarborliteError, UpstreamUnavailable
from harborlite.oci.reference import valid_repository_name, valid_tag
from harborlite.storage.configured import StorageLike, storage_of
from harborlite.storage.store import StorageError
from harborlite.upstream.calls import untag
from harborlite.upstream.client import Upstream

log = logging.getLogger("harborlite.registry")


REPOSITORIES = "docker/registry/v2/repositories"  # under the storage root: one per repository


def repository_folder(storage_root: Path | None, repository: str) -> Path | None:
    """Where the registry keeps ``repository`` (links to its layers, manifests and tags)."""
    if storage_root is None or not valid_repository_name(repository):
        return None
    return storage_root / REPOSITORIES / repository


async def manifest_revisions(where: StorageLike, repository: str) -> list[str]:
    """The manifests the registry holds for ``repository`` (tagged or not), sorted; empty when
    its storage is out of reach."""
    storage = storage_of(where)
    if storage is None or not valid_repository_name(repository):
        return []
    try:
        return sorted(await asyncio.to_thread(storage.revisions, repository))
    except StorageError as error:
        log.warning("could not list the manifests of %s in storage: %s", repository, error)
        return []


async def remove_repository(where: StorageLike, repository: str) -> bool:
    """Forget a repository's folder in storage; True when the registry no longer has it."""
    storage = storage_of(where)
    if storage is None or not valid_repository_name(repository):
        return False
    try:
        await asyncio.to_thread(storage.remove_repository, repository)
    except StorageError as error:
        log.error("could not remove repository %s from storage: %s", repository, error)
        return False
    return True


async def remove_tag(upstream: Upstream, where: StorageLike, repository: str, tag: str) -> None:
    """Untag in the registry, and tell the manifest caches.

    In its storage when harborlite has it (the embedded registry, ``HARBORLITE_REGISTRY_STORAGE``
    or S3); otherwise, or when that fails (a wrong path, a read-only mount), over HTTP
    (:func:`untag`). Raises :class:`HarborliteError` when the registry may still have the tag,
    so the caller's transaction is not committed half-done."""
    if not (valid_repository_name(repository) and valid_tag(tag)):
        raise BadRequest(f"invalid tag {repository}:{tag}")
    removed = False
    storage = storage_of(where)
    if storage is not None:
        try:
            removed = await asyncio.to_thread(storage.remove_tag, repository, tag)
        except StorageError as error:
            log.warning("could not remove tag %s:%s from storage (%s)", repository, tag, error)
    try:
        if not removed:
            await untag(upstream, repository, tag)
    except HarborliteError as error:
        raise UpstreamUnavailable(
            f"the registry did not remove {repository}:{tag}, nothing was changed: {error.message}"
        ) from None
    finally:
        for listener in upstream.manifest_listeners:
            pending = listener("DELETE", repository, tag, 202, None)
            if pending is not None:
                await pending
