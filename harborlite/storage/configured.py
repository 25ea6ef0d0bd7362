"""Which storage the settings name: the registry's folder, an S3 bucket, or none harborlite
can reach (an external registry without ``HARBORLITE_REGISTRY_STORAGE``)."""

from __future__ import annotations

from pathlib import Path

from harborlite.settings import Settings
from harborlite.storage.filesystem import FilesystemStorage
from harborlite.storage.store import RegistryStorage

# what the readers of storage accept: a storage, or (as before) a folder
StorageLike = RegistryStorage | Path | None


def registry_storage(settings: Settings) -> RegistryStorage | None:
    """The storage of ``settings`` (an S3 client is made here, not connected)."""
    if settings.storage == "s3":
        from harborlite.storage.s3 import S3Storage  # boto3 only where S3 is used

        return S3Storage.from_settings(settings)
    root = settings.registry_storage_root
    return None if root is None else FilesystemStorage(root)


def storage_of(where: StorageLike) -> RegistryStorage | None:
    """A storage for ``where``: a folder becomes :class:`FilesystemStorage`."""
    if where is None or not isinstance(where, Path):
        return where
    return FilesystemStorage(where)
