"""Pull-through for proxy-cache projects: what is asked upstream, when, and how it is kept.

One :class:`PullThrough` per process holds the remote clients (one per endpoint), the blob
fills and manifest fetches in flight (single flight per key: concurrent first pulls of the
same manifest or blob make one upstream request), the last tag checks (a tag is checked
upstream, with a ``HEAD`` Docker Hub does not count as a pull, at most once per
``check_seconds``) and a gate per project capping its upstream transfers
(``max_upstream_conn``).

A manifest fetched from upstream is stored in the local registry in the background, once the
blobs it names are local (each fetched once, shared with the clients pulling them), then
indexed, so it shows in the API and the portal like any project's content; an index waits for
its children, each stored first, so the tag resolves locally as soon as the index is stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.artifacts import queries as artifacts
from harborlite.artifacts.describe import describe_manifest
from harborlite.db.errors import worth_retrying
from harborlite.endpoints.queries import Endpoint
from harborlite.oci.mediatypes import INDEX_MEDIA_TYPES
from harborlite.projects import queries as projects
from harborlite.proxycache import local
from harborlite.proxycache.fills import BlobFill, Fills, Pace
from harborlite.proxycache.proxy_settings import ProxySettings
from harborlite.remote.client import RemoteRegistry
from harborlite.remote.types import RemoteManifest
from harborlite.storage.store import RegistryStorage
from harborlite.upstream.calls import put_manifest
from harborlite.upstream.client import Upstream

log = logging.getLogger("harborlite.proxycache")

PROXY_PUSHER = "proxy-cache"
INDEX_ATTEMPTS = 3


@dataclass(frozen=True)
class Target:
    """A proxy-cache project and the endpoint it pulls from."""

    project: str
    project_id: int
    endpoint: Endpoint
    settings: ProxySettings

    def upstream_name(self, local_name: str) -> str:
        """The repository upstream: the path after the project; Docker Hub's single names
        are its ``library/`` images."""
        rest = local_name[len(self.project) + 1 :]
        if self.endpoint.type == "docker-hub" and "/" not in rest:
            rest = f"library/{rest}"
        return rest


@dataclass(frozen=True)
class Local:
    """Where fills are kept: the local registry and the index."""

    upstream: Upstream
    storage: RegistryStorage | None  # to clear what a cancelled upload leaves behind
    sessions: async_sessionmaker[AsyncSession]
    pulled: Callable[[str, str], None]  # (repository, reference): the pull is recorded


class PullThrough:
    def __init__(self, spool_dir: Path) -> None:
        self.fills = Fills(spool_dir)
        self._remotes: dict[int, RemoteRegistry] = {}
        self._fetches: dict[str, asyncio.Task[RemoteManifest | None]] = {}
        self._heads: dict[str, asyncio.Task[str | None]] = {}
        self._stores: dict[str, asyncio.Task[None]] = {}
        self._checked: dict[tuple[str, str], float] = {}
        self._gates: dict[str, tuple[int, asyncio.Semaphore]] = {}
        self.pending: dict[str, RemoteManifest] = {}  # repository@digest, until stored
        self.tag_checks = 0  # HEADs sent upstream (tests read these)
        self.manifest_fetches = 0

    async def close(self) -> None:
        for remote in self._remotes.values():
            await remote.close()
        self._remotes.clear()

    def remote(self, endpoint: Endpoint) -> RemoteRegistry:
        """The client of ``endpoint`` (a new one when the endpoint changed; its health status
        is no change: a new client would lose the tokens it holds, and ask again behind a 401)."""
        found = self._remotes.get(endpoint.id)
        if found is not None and replace(found.endpoint, status=endpoint.status) == endpoint:
            return found
        if found is not None:
            asyncio.get_running_loop().create_task(found.close())
        remote = RemoteRegistry(endpoint, user_agent="harborlite-proxy-cache")
        self._remotes[endpoint.id] = remote
        return remote

    def gate(self, target: Target) -> asyncio.Semaphore | None:
        limit = target.settings.max_upstream_conn
        if limit <= 0:
            return None
        found = self._gates.get(target.project)
        if found is None or found[0] != limit:
            found = (limit, asyncio.Semaphore(limit))
            self._gates[target.project] = found
        return found[1]

    # -- tags ---------------------------------------------------------------------------
    def recently_checked(self, local_name: str, tag: str, check_seconds: int) -> bool:
        when = self._checked.get((local_name, tag))
        return when is not None and time.monotonic() - when < check_seconds

    async def upstream_digest(self, target: Target, local_name: str, tag: str) -> str | None:
        """What the tag names upstream (``HEAD``); RemoteError when upstream cannot say.
        Concurrent checks of one tag share one request."""
        key = f"{target.endpoint.id}:{local_name}:{tag}"
        task = self._heads.get(key)
        if task is None:

            async def check() -> str | None:
                try:
                    self.tag_checks += 1
                    digest = await self.remote(target.endpoint).manifest_digest(
                        target.upstream_name(local_name), tag
                    )
                    self._checked[(local_name, tag)] = time.monotonic()
                    return digest
                finally:
                    self._heads.pop(key, None)

            task = asyncio.create_task(check(), name=f"proxy-check-{tag[:24]}")
            self._heads[key] = task
        return await asyncio.shield(task)

    # -- manifests ----------------------------------------------------------------------
    async def fetch_manifest(
        self, target: Target, local_name: str, reference: str
    ) -> RemoteManifest | None:
        """The manifest from upstream (None: upstream has no such manifest), one request for
        all who ask at once."""
        pending = self.pending.get(f"{local_name}@{reference}")
        if pending is not None:
            return pending
        key = f"{target.endpoint.id}:{local_name}@{reference}"
        task = self._fetches.get(key)
        if task is None:

            async def fetch() -> RemoteManifest | None:
                try:
                    self.manifest_fetches += 1
                    remote = self.remote(target.endpoint)
                    return await remote.manifest(target.upstream_name(local_name), reference)
                finally:
                    self._fetches.pop(key, None)

            task = asyncio.create_task(fetch(), name=f"proxy-manifest-{reference[:24]}")
            self._fetches[key] = task
        return await asyncio.shield(task)

    def keep(
        self,
        where: Local,
        target: Target,
        local_name: str,
        manifest: RemoteManifest,
        tag: str | None,
        pulled: bool = False,
    ) -> asyncio.Task[None]:
        """Store ``manifest`` (and what it needs) locally in the background, then index it."""
        key = f"{local_name}@{manifest.digest}" + (f":{tag}" if tag else "")
        found = self._stores.get(key)
        if found is not None:
            return found
        self.pending[f"{local_name}@{manifest.digest}"] = manifest

        async def store() -> None:
            try:
                await self._store(where, target, local_name, manifest, tag)
                if pulled:  # the client's pull: its time keeps the copy from retention
                    where.pulled(local_name, tag or manifest.digest)
            except Exception as error:
                log.warning(
                    "proxy cache could not keep %s@%s: %r", local_name, manifest.digest, error
                )
                raise
            finally:
                self._stores.pop(key, None)
                self.pending.pop(f"{local_name}@{manifest.digest}", None)

        task = asyncio.create_task(store(), name=f"proxy-keep-{manifest.digest[:19]}")
        task.add_done_callback(_quiet)
        self._stores[key] = task
        return task

    async def _store(
        self,
        where: Local,
        target: Target,
        local_name: str,
        manifest: RemoteManifest,
        tag: str | None,
    ) -> None:
        document = json.loads(manifest.body)
        waits: list[Awaitable[None]] = []
        if manifest.media_type in INDEX_MEDIA_TYPES or "manifests" in document:
            for child in document.get("manifests") or []:
                digest = str(child.get("digest", ""))
                if await local.manifest_digest(where.upstream, local_name, digest):
                    continue
                fetched = await self.fetch_manifest(target, local_name, digest)
                if fetched is None:
                    raise LookupError(f"upstream has no manifest {digest} of {local_name}")
                waits.append(self.keep(where, target, local_name, fetched, None))
        else:
            blobs = [document.get("config") or {}, *(document.get("layers") or [])]
            for blob in blobs:
                digest = str(blob.get("digest", ""))
                if not digest or await local.has_blob(where.upstream, local_name, digest):
                    continue
                fill, task = self.blob_fill(where, target, local_name, digest)
                waits.append(_stored(fill, task))
        for wait in waits:
            await wait
        await put_manifest(
            where.upstream, local_name, tag or manifest.digest, manifest.body, manifest.media_type
        )
        await self._index(where, target, local_name, manifest, tag)

    async def _index(
        self,
        where: Local,
        target: Target,
        local_name: str,
        manifest: RemoteManifest,
        tag: str | None,
    ) -> None:
        async with where.sessions() as session:
            described = await describe_manifest(
                where.upstream,
                session,
                local_name,
                manifest.body,
                manifest.media_type,
                manifest.digest,
            )
        for attempt in range(INDEX_ATTEMPTS):  # a concurrent fill may create the repository
            try:
                async with where.sessions() as session:
                    project = await projects.get_project(session, target.project_id)
                    if project is None:
                        return
                    await artifacts.record_push(
                        session,
                        project_id=project.id,
                        repository_name=local_name,
                        manifest=described,
                        tag=tag,
                        pusher=PROXY_PUSHER,
                    )
                    await session.commit()
                    return
            except (IntegrityError, OperationalError) as error:
                if not worth_retrying(error) or attempt == INDEX_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    # -- blobs --------------------------------------------------------------------------
    def blob_fill(
        self, where: Local, target: Target, local_name: str, digest: str
    ) -> tuple[BlobFill, asyncio.Task[None]]:
        """The upstream transfer of the blob: the one in flight, or a new one."""
        remote = self.remote(target.endpoint)
        upstream_name = target.upstream_name(local_name)

        async def store(chunks: AsyncIterator[bytes]) -> None:
            await local.store_blob(where.upstream, where.storage, local_name, digest, chunks)

        return self.fills.start(
            f"{local_name}@{digest}",
            digest,
            lambda: remote.open_blob(upstream_name, digest),
            store,
            Pace(target.settings.bytes_per_second),
            self.gate(target),
        )


async def _stored(fill: BlobFill, task: asyncio.Task[None]) -> None:
    await asyncio.shield(task)
    if not fill.stored:
        raise LookupError(f"blob {fill.digest} could not be kept: {fill.error!r}")


def _quiet(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # logged by the task itself
