"""Copying one artifact between two registries, complete and exact.

- The manifest bytes are sent as they were read, so every digest is unchanged.
- An index is copied children first (each child's blobs, then the child), then the index.
- Accessories follow their subject: OCI referrers (when the source serves the referrers API)
  and cosign's legacy tags ``sha256-<hex>.sig`` / ``.att`` / ``.sbom``.
- A blob the destination repository has is not sent again; one that another repository of the
  destination received during this execution is mounted from there; any other is streamed
  (chunks from the source straight into the upload, never held whole), throttled to the
  policy's ``speed`` (kbit/s).
- Without ``override`` a tag the destination already points elsewhere is left alone; an
  artifact the destination has by digest is not copied again (what makes a resumed execution
  cheap: its copies check the destination first).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from harborlite.remote.client import RemoteRegistry
from harborlite.remote.errors import RemoteError
from harborlite.remote.types import DOCKER_LIST, OCI_INDEX, RemoteManifest

LEGACY_SUFFIXES = (".sig", ".att", ".sbom")
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)


def legacy_tags(digest: str) -> tuple[str, ...]:
    """cosign's tags for the accessories of ``digest`` (``sha256-<hex>.sig`` ...)."""
    algorithm, _, hexa = digest.partition(":")
    return tuple(f"{algorithm}-{hexa}{suffix}" for suffix in LEGACY_SUFFIXES)


def is_legacy_accessory_tag(tag: str) -> bool:
    return tag.startswith("sha256-") and tag.endswith(LEGACY_SUFFIXES)


async def throttled(
    chunks: AsyncIterable[bytes], bytes_per_second: float | None, moved: Callable[[int], None]
) -> AsyncIterator[bytes]:
    """``chunks`` passed on no faster than ``bytes_per_second`` on average (None: as fast as
    they come); ``moved`` told of every chunk."""
    started, sent = time.monotonic(), 0
    async for chunk in chunks:
        sent += len(chunk)
        moved(len(chunk))
        if bytes_per_second:
            ahead = sent / bytes_per_second - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        yield chunk


@dataclass
class Copier:
    """Copies artifacts from ``source`` to ``destination`` for one execution."""

    source: RemoteRegistry
    destination: RemoteRegistry
    override: bool = True
    speed_kbit: int = -1
    log: Callable[[str], None] = lambda line: None
    bytes_moved: int = 0
    # where a blob already is on the destination (its repository), to mount it from there
    placed: dict[str, str] = field(default_factory=dict)
    _tags: dict[str, list[str]] = field(default_factory=dict)

    @property
    def bytes_per_second(self) -> float | None:
        return self.speed_kbit * 1024 / 8 if self.speed_kbit > 0 else None

    def _moved(self, count: int) -> None:
        self.bytes_moved += count

    async def source_tags(self, repository: str) -> list[str]:
        if repository not in self._tags:
            self._tags[repository] = await self.source.tags(repository)
        return self._tags[repository]

    async def copy(self, src_repo: str, dst_repo: str, digest: str, tags: tuple[str, ...]) -> str:
        """Copy ``digest`` with ``tags`` and its accessories; a line saying what was done."""
        manifest = await self.source.manifest(src_repo, digest)
        if manifest is None:
            raise RemoteError(f"{src_repo}@{digest} is no longer on the source", status=404)
        present = await self.destination.manifest_digest(dst_repo, digest) == digest
        if present:
            self.log(f"{dst_repo}@{digest} is already on the destination: not copied again")
        else:
            await self._tree(src_repo, dst_repo, manifest)
        tagged: list[str] = []
        for tag in tags:
            if await self._tag(dst_repo, tag, manifest):
                tagged.append(tag)
        accessories = await self._accessories(src_repo, dst_repo, digest)
        line = f"{src_repo}@{digest} {'found' if present else 'copied'} as {dst_repo}"
        if tagged:
            line += f" tags {', '.join(tagged)}"
        if accessories:
            line += f", with {accessories} accessor{'y' if accessories == 1 else 'ies'}"
        return line

    async def _tag(self, dst_repo: str, tag: str, manifest: RemoteManifest) -> bool:
        there = await self.destination.manifest_digest(dst_repo, tag)
        if there == manifest.digest:
            return True
        if there is not None and not self.override:
            self.log(f"{dst_repo}:{tag} points at {there} there and override is off: kept")
            return False
        await self.destination.put_manifest(dst_repo, tag, manifest.body, manifest.media_type)
        return True

    async def _tree(self, src_repo: str, dst_repo: str, manifest: RemoteManifest) -> None:
        """The manifest's blobs or children, then the manifest itself (by digest)."""
        document = _parsed(manifest)
        if manifest.media_type in INDEX_TYPES or "manifests" in document:
            for child in document.get("manifests") or []:
                child_digest = str(child.get("digest", ""))
                if await self.destination.manifest_digest(dst_repo, child_digest) == child_digest:
                    continue
                found = await self.source.manifest(src_repo, child_digest)
                if found is None:
                    raise RemoteError(
                        f"{src_repo}@{manifest.digest} names {child_digest}, which the source "
                        "does not have"
                    )
                await self._tree(src_repo, dst_repo, found)
        else:
            blobs = [document.get("config") or {}, *(document.get("layers") or [])]
            for blob in blobs:
                if not blob.get("digest") or blob.get("urls"):  # a foreign layer stays remote
                    continue
                await self._blob(src_repo, dst_repo, str(blob["digest"]), int(blob.get("size", 0)))
        await self.destination.put_manifest(
            dst_repo, manifest.digest, manifest.body, manifest.media_type
        )

    async def _blob(self, src_repo: str, dst_repo: str, digest: str, size: int) -> None:
        if await self.destination.has_blob(dst_repo, digest):
            self.placed.setdefault(digest, dst_repo)
            return
        elsewhere = self.placed.get(digest)
        if elsewhere and elsewhere != dst_repo:
            if await self.destination.mount_blob(dst_repo, digest, elsewhere):
                self.log(f"blob {digest} mounted from {elsewhere}")
                return
        async with self.source.open_blob(src_repo, digest) as stream:
            chunks = throttled(stream.chunks, self.bytes_per_second, self._moved)
            await self.destination.put_blob(dst_repo, digest, stream.size or size, chunks)
        self.placed[digest] = dst_repo

    async def _accessories(self, src_repo: str, dst_repo: str, digest: str) -> int:
        """Copy the signatures, SBOMs and attestations of ``digest``; how many."""
        copied = 0
        referrers = await self.source.referrers(src_repo, digest)
        for descriptor in referrers or []:
            child = str(descriptor.get("digest", ""))
            if not child or await self.destination.manifest_digest(dst_repo, child) == child:
                continue
            found = await self.source.manifest(src_repo, child)
            if found is not None:
                await self._tree(src_repo, dst_repo, found)
                copied += 1
        tags = set(await self.source_tags(src_repo))
        for tag in legacy_tags(digest):
            if tag not in tags:
                continue
            found = await self.source.manifest(src_repo, tag)
            if found is None:
                continue
            if await self.destination.manifest_digest(dst_repo, found.digest) != found.digest:
                await self._tree(src_repo, dst_repo, found)
            await self._tag(dst_repo, tag, found)
            copied += 1
        return copied

    async def delete(self, dst_repo: str, digest: str | None, tag: str | None) -> str:
        """Delete an artifact (by digest) or a tag on the destination, as far as it allows.

        A tag alone: by ``DELETE /v2/<repo>/manifests/<tag>`` where the registry allows it (OCI
        1.1), else, when no other tag there names the same manifest, the manifest by digest
        (which takes the tag with it); otherwise the tag stays and the log says why."""
        if tag and not digest:
            there = await self.destination.manifest_digest(dst_repo, tag)
            if there is None:
                return f"{dst_repo}:{tag} is not on the destination: nothing to delete"
            try:
                if await self.destination.delete_manifest(dst_repo, tag):
                    return f"deleted tag {dst_repo}:{tag}"
            except RemoteError as error:
                if error.status != 400:  # 400: distribution's "no tag deletes" (DIGEST_INVALID)
                    raise
            others = [
                other
                for other in await self.destination.tags(dst_repo)
                if other != tag and await self.destination.manifest_digest(dst_repo, other) == there
            ]
            if others:
                return (
                    f"{dst_repo}:{tag} kept: the destination cannot delete a tag alone and "
                    f"{', '.join(others)} also name {there}"
                )
            digest = there
        if not digest:
            return "nothing to delete"
        if await self.destination.manifest_digest(dst_repo, digest) is None:
            return f"{dst_repo}@{digest} is not on the destination: nothing to delete"
        if await self.destination.delete_manifest(dst_repo, digest):
            return f"deleted {dst_repo}@{digest}"
        raise RemoteError(f"the destination does not allow deleting {dst_repo}@{digest}")


def _parsed(manifest: RemoteManifest) -> dict[str, Any]:
    try:
        document = json.loads(manifest.body)
    except ValueError:
        raise RemoteError(f"manifest {manifest.digest} is not JSON") from None
    if not isinstance(document, dict):
        raise RemoteError(f"manifest {manifest.digest} is not a JSON object")
    return document
