"""What the registry's storage holds, read and swept for garbage collection, on a folder or an
S3 bucket alike (:mod:`harborlite.storage`; layout in :mod:`harborlite.storage.layout`).

The mark reads every revision of every repository and what its manifest names (an image's
config and layers, an index's manifests, a ``subject``): the registry's own view, so a
manifest the index does not list is kept too. Distribution has no HTTP API to delete a blob,
so the sweep removes the blob's data itself (``RemoveBlob`` does the same): a folder on disk,
the objects in S3 (batched, 1,000 keys a call). Everything here blocks: run it in a thread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from harborlite.oci.json_reader import UnreadableJson, read_json
from harborlite.storage.configured import StorageLike, storage_of
from harborlite.storage.store import RegistryStorage, StoredBlob

__all__ = ["StoredBlob", "named_by", "referenced", "remove_blobs", "stored_blobs", "writable"]

# digests written in a manifest GC cannot parse: every blob it may name is kept
_DIGEST_TEXT = re.compile(rb"sha(?:256|384|512):[a-f0-9]{64,128}")


def stored_blobs(where: StorageLike) -> list[StoredBlob]:
    """Every blob in the global blob store."""
    storage = storage_of(where)
    return [] if storage is None else storage.stored_blobs()


def referenced(where: StorageLike) -> set[str]:
    """Every blob a manifest of a repository names, and those manifests themselves."""
    storage = storage_of(where)
    marked: set[str] = set()
    if storage is None:
        return marked
    for digest in storage.revisions():
        marked.add(digest)
        if not digest.startswith("sha256:"):
            continue
        data = storage.read_blob(digest)
        if data is None:
            continue  # gone meanwhile
        try:
            marked.update(named_by(read_json(data, "manifest", max_bytes=None)))
        except UnreadableJson:  # unreadable (too deep, not JSON): keep every blob it may name
            marked.update(found.decode() for found in _DIGEST_TEXT.findall(data))
    return marked


def named_by(document: object) -> set[str]:
    """The digests a manifest names: config, layers, manifests (an index), subject, blobs."""
    found: set[str] = set()
    if not isinstance(document, dict):
        return found
    for key in ("config", "subject"):
        entry = document.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("digest"), str):
            found.add(entry["digest"])
    for key in ("layers", "manifests", "blobs"):
        entries = document.get(key)
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict) and isinstance(entry.get("digest"), str):
                    found.add(entry["digest"])
    for layer in document.get("fsLayers") or []:  # schema 1
        if isinstance(layer, dict) and isinstance(layer.get("blobSum"), str):
            found.add(layer["blobSum"])
    return found


def remove_blobs(storage: RegistryStorage, blobs: Sequence[StoredBlob]) -> int:
    """Delete the blobs' data; the bytes freed (0 for those gone already)."""
    return storage.remove_blobs(blobs)


def writable(where: StorageLike) -> bool:
    """Whether harborlite may change the registry's storage (before the first push a folder
    holds no ``docker/`` yet)."""
    storage = storage_of(where)
    return storage is not None and storage.writable()
