"""What the registry's filesystem storage holds, read and swept for garbage collection.

Layout (distribution 2.8, ``registry/storage/paths.go``), under the storage root:

- blob data: ``docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data``;
- a repository's manifests: ``.../repositories/<name>/_manifests/revisions/sha256/<hex>/link``
  (every manifest pushed to it and not deleted; tags point at revisions).

The mark reads every revision of every repository and what its manifest names (an image's
config and layers, an index's manifests, a ``subject``): the registry's own view, so a
manifest the index does not list is kept too. Distribution has no HTTP API to delete a blob,
so the sweep removes the data folder itself (``RemoveBlob`` does the same).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harborlite.oci.json_reader import UnreadableJson, read_json

V2 = Path("docker/registry/v2")
_HEX = re.compile(r"^[0-9a-f]{64}$")
# digests written in a manifest GC cannot parse: every blob it may name is kept
_DIGEST_TEXT = re.compile(rb"sha(?:256|384|512):[a-f0-9]{64,128}")


@dataclass(frozen=True)
class StoredBlob:
    digest: str
    size: int
    modified: float  # the data file's mtime, seconds


def blobs_root(storage_root: Path) -> Path:
    return storage_root / V2 / "blobs" / "sha256"


def data_path(storage_root: Path, digest: str) -> Path | None:
    algorithm, _, hexdigest = digest.partition(":")
    if algorithm != "sha256" or not _HEX.match(hexdigest):
        return None
    return blobs_root(storage_root) / hexdigest[:2] / hexdigest / "data"


def stored_blobs(storage_root: Path) -> Iterator[StoredBlob]:
    """Every blob in the global blob store."""
    root = blobs_root(storage_root)
    if not root.is_dir():
        return
    for prefix in os.scandir(root):
        if not prefix.is_dir():
            continue
        for entry in os.scandir(prefix.path):
            if not _HEX.match(entry.name):
                continue
            try:
                stat = os.stat(os.path.join(entry.path, "data"))
            except FileNotFoundError:
                continue
            yield StoredBlob(f"sha256:{entry.name}", stat.st_size, stat.st_mtime)


def _revisions(storage_root: Path) -> Iterator[str]:
    """The manifest digests every repository holds (its ``_manifests/revisions``)."""
    repositories = storage_root / V2 / "repositories"
    if not repositories.is_dir():
        return
    for dirpath, dirnames, _ in os.walk(repositories):
        if os.path.basename(dirpath) == "_manifests":
            revisions = Path(dirpath) / "revisions" / "sha256"
            if revisions.is_dir():
                for entry in os.scandir(revisions):
                    if _HEX.match(entry.name) and os.path.exists(os.path.join(entry.path, "link")):
                        yield f"sha256:{entry.name}"
            dirnames.clear()  # nothing below _manifests is a repository
        elif os.path.basename(dirpath) in ("_layers", "_uploads"):
            dirnames.clear()


def referenced(storage_root: Path) -> set[str]:
    """Every blob a manifest of a repository names, and those manifests themselves."""
    marked: set[str] = set()
    for digest in set(_revisions(storage_root)):
        marked.add(digest)
        path = data_path(storage_root, digest)
        if path is None:
            continue
        try:
            data = path.read_bytes()
        except OSError:
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


def remove_blob(storage_root: Path, digest: str) -> int:
    """Delete the blob's folder; the bytes freed (0 when it was gone already)."""
    path = data_path(storage_root, digest)
    if path is None:
        return 0
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    shutil.rmtree(path.parent, ignore_errors=True)
    return size


def writable(storage_root: Path | None) -> bool:
    """Whether harborlite may change the registry's storage (before the first push it holds
    no ``docker/`` folder yet)."""
    if storage_root is None or not storage_root.is_dir():
        return False
    v2 = storage_root / V2
    return os.access(v2 if v2.is_dir() else storage_root, os.W_OK)
