"""The gateway's side of a running garbage collection (:mod:`harborlite.gc.fence`): only
while one runs on some replica, so a pull never pays for it otherwise."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

from starlette.types import Scope

from harborlite.gc.fence import touch
from harborlite.gc.job import GC
from harborlite.gc.storage import named_by
from harborlite.services import Services
from harborlite.v2.challenge import Refusal
from harborlite.v2.routes import Route


def collecting(services: Services) -> bool:
    return services.jobs is not None and GC in services.jobs.running_kinds


async def _going(services: Services, digests: set[str]) -> set[str]:
    async with services.sessions() as session:
        going = await touch(session, digests)
        await session.commit()
    return going


async def refused_blob(services: Services, route: Route) -> Refusal | None:
    """``GET``/``HEAD`` of a blob: one being deleted is unknown (the client uploads it again);
    a marked one is taken back."""
    if not collecting(services) or not route.reference.startswith("sha256:"):
        return None
    if await _going(services, {route.reference}):
        return Refusal(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": route.reference})
    return None


async def refused_upload(services: Services, scope: Scope, route: Route) -> Refusal | None:
    """A mount of a blob being deleted becomes a plain upload (as distribution answers a mount
    it cannot make); the completion of an upload of one waits for the sweep (503, retried)."""
    if not collecting(services):
        return None
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    digest = query.get("mount") or query.get("digest")
    if not digest:
        return None
    if not await _going(services, {digest}):
        return None
    if "mount" in query:
        query.pop("mount", None)
        query.pop("from", None)
        scope["query_string"] = urlencode(query).encode("latin-1")
        return None
    return Refusal(503, "UNAVAILABLE", f"blob {digest} is being garbage collected: try again")


async def refused_manifest(services: Services, body: bytes) -> Refusal | None:
    """A manifest naming a blob being deleted: refused, so the client uploads it again."""
    if not collecting(services):
        return None
    try:
        named = named_by(json.loads(body))
    except ValueError:
        return None
    going = await _going(services, named)
    if going:
        digest = sorted(going)[0]
        return Refusal(
            400, "MANIFEST_BLOB_UNKNOWN", f"blob unknown to registry: {digest}", {"digest": digest}
        )
    return None
