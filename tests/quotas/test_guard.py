"""The ``/v2/`` quota hooks (:mod:`harborlite.v2.quota_guard`) in process, on a database of
each kind: a refused upload start, an upload reserved then given back when the registry
refuses it, a manifest counted then given back when the registry refuses it, and the listener
for deletes registered once."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.projects import queries as projects
from harborlite.quotas import operations, queries
from harborlite.quotas.usage import Clock, RegistryWrites, upload_window
from harborlite.v2 import quota_guard
from harborlite.v2.routes import Route, parse_route

Sessions = async_sessionmaker[AsyncSession]
CONFIG = "sha256:" + "c" * 64


class _Registry:
    """An upstream that knows no upload and no blob (the sizes come from the requests)."""

    def __init__(self) -> None:
        self.manifest_listeners: list[Any] = []

    async def fetch(self, method: str, repository: str, path: str, actions: Any) -> Any:
        return 404, {}, b""


def services_for(sessions: Sessions) -> Any:
    return SimpleNamespace(
        sessions=sessions,
        settings=SimpleNamespace(gc_time_window_minutes=120),
        upstream=_Registry(),
        storage_root=None,
    )


async def _project(sessions: Sessions, name: str, hard: int) -> int:
    async with sessions() as session:
        project = projects.new_project(session, name=name, public=False, owner=None)
        await session.flush()
        await operations.create_project_quota(session, project.id, hard)
        await session.commit()
        return project.id


async def _used(sessions: Sessions, project_id: int) -> int:
    async with sessions() as session:
        return await queries.usage(session, project_id, Clock.of(upload_window(120)).cutoff)


def _scope(method: str, path: str, query: str = "", length: int | None = None) -> dict[str, Any]:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {"method": method, "path": path, "query_string": query.encode(), "headers": headers}


def _route(scope: dict[str, Any]) -> Route:
    route = parse_route(scope["path"], scope["query_string"])
    assert route is not None
    return route


async def test_uploads_are_reserved_given_back_and_refused(sessions: Sessions) -> None:
    services = services_for(sessions)
    project_id = await _project(sessions, "guarded", 100)
    digest = "sha256:" + "a" * 64
    put = _scope("PUT", "/v2/guarded/app/blobs/uploads/u1", f"digest={digest}", 60)
    assert await quota_guard.refused_upload(services, put, _route(put)) is None
    assert await _used(sessions, project_id) == 60
    # the registry refused it (a wrong digest): given back
    await quota_guard.uploaded(services, put, _route(put), 400, [])
    assert await _used(sessions, project_id) == 0
    assert quota_guard.RESERVED not in put

    again = _scope("PUT", "/v2/guarded/app/blobs/uploads/u2", f"digest={digest}", 60)
    assert await quota_guard.refused_upload(services, again, _route(again)) is None
    await quota_guard.uploaded(services, again, _route(again), 201, [])
    assert await _used(sessions, project_id) == 60
    big = _scope("PUT", "/v2/guarded/app/blobs/uploads/u3", "digest=sha256:" + "b" * 64, 41)
    refused = await quota_guard.refused_upload(services, big, _route(big))
    assert refused is not None and (refused.status, refused.code) == (403, "DENIED")
    assert refused.message.startswith("adding 41 B of storage resource")
    # PATCH is never checked, a completion without a digest is the registry's to refuse
    patch = _scope("PATCH", "/v2/guarded/app/blobs/uploads/u3", "", 10**9)
    assert await quota_guard.refused_upload(services, patch, _route(patch)) is None
    no_digest = _scope("PUT", "/v2/guarded/app/blobs/uploads/u3", "", 10**9)
    assert await quota_guard.refused_upload(services, no_digest, _route(no_digest)) is None

    async with sessions() as session:
        quota = await queries.quota_of(session, project_id)
        assert quota is not None
        await queries.set_hard(session, quota, 50)
        await session.commit()
    start = _scope("POST", "/v2/guarded/app/blobs/uploads/")
    refused = await quota_guard.refused_upload(services, start, _route(start))
    assert refused is not None and refused.message.startswith("subtracting 0 B")
    # a project that does not exist (deleted during the push) is not the quota's business
    gone = _scope("POST", "/v2/nosuch/app/blobs/uploads/")
    assert await quota_guard.refused_upload(services, gone, _route(gone)) is None
    # the listener for the registry's deletes is registered once
    listeners = services.upstream.manifest_listeners
    assert len(listeners) == 1 and isinstance(listeners[0].__self__, RegistryWrites)


async def test_a_manifest_the_registry_refuses_is_given_back(sessions: Sessions) -> None:
    services = services_for(sessions)
    project_id = await _project(sessions, "mguard", -1)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": CONFIG,
                "size": 30,
            },
            "layers": [],
        }
    ).encode()
    route = _route(_scope("PUT", "/v2/mguard/app/manifests/v1"))
    assert await quota_guard.refused_manifest_push(services, route, body) is None
    assert await _used(sessions, project_id) == len(body) + 30
    await quota_guard.manifest_answered(services, route, body, 201)
    assert await _used(sessions, project_id) == len(body) + 30  # accepted: still pending
    await quota_guard.manifest_answered(services, route, body, 400)
    assert await _used(sessions, project_id) == 0


async def test_the_quota_unchecked_is_a_503_not_a_pass() -> None:
    class Broken:
        def __call__(self) -> Any:
            raise RuntimeError("database gone")

    services: Any = SimpleNamespace(
        sessions=Broken(),
        settings=SimpleNamespace(gc_time_window_minutes=120),
        upstream=SimpleNamespace(manifest_listeners=[]),
        storage_root=None,
    )
    start = _scope("POST", "/v2/p/app/blobs/uploads/")
    refused = await quota_guard.refused_upload(services, start, _route(start))
    assert refused is quota_guard.UNCHECKED and refused.status == 503
    manifest = _route(_scope("PUT", "/v2/p/app/manifests/v1"))
    assert (
        await quota_guard.refused_manifest_push(services, manifest, b"{}") is quota_guard.UNCHECKED
    )
