"""The registry's storage as a folder: the embedded registry's (``<data>/registry``), or an
external registry's mounted at ``HARBORLITE_REGISTRY_STORAGE``."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from harborlite.storage import layout
from harborlite.storage.store import StorageError, StoredBlob, Upload

log = logging.getLogger("harborlite.registry")

_SKIPPED = ("_layers", "_manifests")  # a repository's other folders: no uploads in them


class FilesystemStorage:
    kind = "filesystem"
    batch = 1

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"FilesystemStorage({str(self.root)!r})"

    def describe(self) -> str:
        return f"the folder {self.root}"

    def path(self, key: str) -> Path:
        return self.root / key

    def check(self) -> None:
        if not self.root.is_dir():
            raise StorageError(f"the registry's storage {self.root} is not a folder")

    def writable(self) -> bool:
        """Before the first push the root holds no ``docker/`` folder yet."""
        if not self.root.is_dir():
            return False
        v2 = self.root / layout.V2
        return os.access(v2 if v2.is_dir() else self.root, os.W_OK)

    def has_repositories(self) -> bool:
        return (self.root / layout.REPOSITORIES).is_dir()

    def stored_blobs(self) -> list[StoredBlob]:
        root = self.root / layout.BLOBS / "sha256"
        found: list[StoredBlob] = []
        if not root.is_dir():
            return found
        for prefix in os.scandir(root):
            if not prefix.is_dir():
                continue
            for entry in os.scandir(prefix.path):
                if not layout.HEX.match(entry.name):
                    continue
                try:
                    stat = os.stat(os.path.join(entry.path, "data"))
                except FileNotFoundError:
                    continue
                found.append(StoredBlob(f"sha256:{entry.name}", stat.st_size, stat.st_mtime))
        return found

    def revisions(self, repository: str | None = None) -> set[str]:
        if repository is not None:
            return self._revisions_of(self.root / layout.repository(repository))
        found: set[str] = set()
        repositories = self.root / layout.REPOSITORIES
        if not repositories.is_dir():
            return found
        for dirpath, dirnames, _ in os.walk(repositories):
            if os.path.basename(dirpath) == "_manifests":
                found |= self._revisions_of(Path(dirpath).parent)
                dirnames.clear()  # nothing below _manifests is a repository
            elif os.path.basename(dirpath) in ("_layers", "_uploads"):
                dirnames.clear()
        return found

    @staticmethod
    def _revisions_of(folder: Path) -> set[str]:
        revisions = folder / "_manifests" / "revisions" / "sha256"
        if not revisions.is_dir():
            return set()
        return {
            f"sha256:{entry.name}"
            for entry in os.scandir(revisions)
            if layout.HEX.match(entry.name) and os.path.exists(os.path.join(entry.path, "link"))
        }

    def read_blob(self, digest: str) -> bytes | None:
        key = layout.blob_data(digest)
        if key is None:
            return None
        try:
            return self.path(key).read_bytes()
        except OSError:
            return None  # gone meanwhile

    def blob_size(self, digest: str) -> int | None:
        key = layout.blob_data(digest)
        if key is None:
            return None
        try:
            return self.path(key).stat().st_size
        except OSError:
            return None

    def blob_linked(self, repository: str, digest: str) -> bool:
        key = layout.layer_link(repository, digest)
        if key is None:
            return False
        try:
            return self.path(key).read_bytes().strip() == digest.encode()
        except OSError:
            return False

    def remove_blobs(self, blobs: Sequence[StoredBlob]) -> int:
        """Delete each blob's folder (``RemoveBlob`` does the same); the sizes on disk."""
        freed = 0
        for blob in blobs:
            key = layout.sha256_data(blob.digest)
            if key is None:
                continue
            path = self.path(key)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            shutil.rmtree(path.parent, ignore_errors=True)
            freed += size
        return freed

    def remove_repository(self, repository: str) -> None:
        try:
            shutil.rmtree(self.root / layout.repository(repository))
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StorageError(str(error)) from None

    def remove_tag(self, repository: str, tag: str) -> bool:
        manifests = self.root / layout.repository(repository) / "_manifests"
        try:
            shutil.rmtree(self.path(layout.tag_folder(repository, tag)))
            return True
        except FileNotFoundError:
            # gone already if the repository is there; else the storage path may not be the
            # registry's: then ask the registry
            return manifests.is_dir()
        except OSError as error:
            log.warning("could not remove tag %s:%s from storage (%s)", repository, tag, error)
            return False

    def uploads(self) -> list[Upload]:
        root = self.root / layout.REPOSITORIES
        found: list[Upload] = []
        for folder, children, _files in os.walk(root):
            if "_uploads" in children:
                repository = os.path.relpath(folder, root)
                for upload in sorted(Path(folder, "_uploads").iterdir()):
                    if upload.is_dir():
                        found.append(Upload(repository, upload.name, _started(upload)))
            children[:] = [c for c in children if c not in ("_uploads", *_SKIPPED)]
        return found

    def upload_path(self, upload: Upload) -> Path:
        return self.root / layout.repository(upload.repository) / "_uploads" / upload.uuid

    def remove_upload(self, upload: Upload) -> bool:
        path = self.upload_path(upload)
        shutil.rmtree(path, ignore_errors=True)
        return not path.exists()


def _started(upload: Path) -> float:
    """When the upload started: its ``startedat`` (RFC 3339, as the registry writes it), else
    the folder's modification time."""
    try:
        return started_at((upload / "startedat").read_text())
    except (OSError, ValueError):
        try:
            return upload.stat().st_mtime
        except OSError:
            return time.time()  # gone meanwhile: never purged on a guess


def started_at(written: str) -> float:
    """The time in a ``startedat`` (RFC 3339, as the registry writes it); ValueError if none."""
    return datetime.fromisoformat(written.strip().replace("Z", "+00:00")).timestamp()
