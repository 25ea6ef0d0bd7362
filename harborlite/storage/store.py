"""What harborlite reads and changes in the registry's storage, whatever holds it.

One protocol, two implementations: :class:`~harborlite.storage.filesystem.FilesystemStorage`
(the embedded registry's folder, or ``HARBORLITE_REGISTRY_STORAGE``) and
:class:`~harborlite.storage.s3.S3Storage` (``HARBORLITE_STORAGE=s3``, through boto3). Every
method blocks (disk or network): callers run them with ``asyncio.to_thread``, never on the
event loop. Keys follow :mod:`harborlite.storage.layout`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class StorageError(RuntimeError):
    """The storage could not be read or changed (the message says which and why)."""


@dataclass(frozen=True)
class StoredBlob:
    digest: str
    size: int
    modified: float  # when its data was written, seconds since the epoch


@dataclass(frozen=True)
class Upload:
    """An upload the registry started and did not finish."""

    repository: str
    uuid: str
    started: float  # seconds since the epoch


class RegistryStorage(Protocol):
    kind: str  # "filesystem" or "s3"
    batch: int  # how many blobs one remove_blobs call is worth

    def describe(self) -> str:
        """Where it is, for messages (never a secret)."""
        ...

    def check(self) -> None:
        """Raise :class:`StorageError` with a clear message when it cannot be reached."""
        ...

    def writable(self) -> bool:
        """Whether harborlite may change it (garbage collection, purges)."""
        ...

    def has_repositories(self) -> bool:
        """Whether any repository was ever pushed to it (its ``repositories/`` exists)."""
        ...

    def stored_blobs(self) -> list[StoredBlob]:
        """Every blob in the global blob store."""
        ...

    def revisions(self, repository: str | None = None) -> set[str]:
        """The manifest digests every repository (or the one named) holds."""
        ...

    def read_blob(self, digest: str) -> bytes | None:
        """A blob's bytes (manifests: small), None when it is not there."""
        ...

    def blob_size(self, digest: str) -> int | None: ...

    def blob_linked(self, repository: str, digest: str) -> bool:
        """Whether the repository may serve the blob (its ``_layers`` link names it)."""
        ...

    def remove_blobs(self, blobs: Sequence[StoredBlob]) -> int:
        """Delete the blobs' data (at most :attr:`batch` at once are worth passing); the bytes
        freed."""
        ...

    def remove_repository(self, repository: str) -> None:
        """Remove everything of the repository (raises :class:`StorageError`)."""
        ...

    def remove_tag(self, repository: str, tag: str) -> bool:
        """Remove the tag; True when the registry no longer has it, False when unsure (the
        repository is not where it should be: ask the registry)."""
        ...

    def uploads(self) -> list[Upload]:
        """Every unfinished upload (repository names may nest)."""
        ...

    def remove_upload(self, upload: Upload) -> bool:
        """Remove the upload; True when it is gone."""
        ...
