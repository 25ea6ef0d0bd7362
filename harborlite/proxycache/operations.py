"""Making a project a proxy cache, once for every surface (REST API, portal).

The checks come first (:func:`checked_request`), before the project exists, so a refused
request leaves nothing behind: only a system administrator creates a proxy-cache project
(Harbor's 403 "Only system admin can create proxy cache project"), its endpoint must exist and
be of a type harborlite can pull from (Harbor's 400 "unsupported registry type <type>"), and
the proxy metadata must be well formed. :func:`make_proxy` then binds the new project to the
endpoint in the caller's session, sets the metadata, and gives it Harbor's default retention
policy for caches: keep what was pulled in the last 7 days, every day at midnight.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import Actor
from harborlite.db.models import Project
from harborlite.endpoints import queries as endpoints
from harborlite.errors import BadRequest, Forbidden
from harborlite.projects import queries as projects
from harborlite.proxycache import proxy_settings
from harborlite.proxycache import queries as proxies
from harborlite.retention import operations as retention
from harborlite.retention.policy import parse_policy

ONLY_ADMINS = "Only system admin can create proxy cache project"
# the endpoint types harborlite can pull through (Harbor's PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE,
# cut to the types harborlite talks to)
PROXY_TYPES = ("docker-hub", "harbor", "docker-registry")
RETENTION_DAYS = 7
RETENTION_CRON = "0 0 0 * * *"
# settings Harbor drops on a proxy project: nothing is pushed into it to sign (#12940)
DROPPED = ("enable_content_trust", "enable_content_trust_cosign")


@dataclass(frozen=True)
class ProxyRequest:
    registry_id: int
    metadata: dict[str, str]  # the proxy keys, checked, with defaults


def registry_id_of(raw: object) -> int | None:
    """``registry_id`` of a project body: None (or 0) for an ordinary project."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise BadRequest(f"registry_id must be a positive whole number, got {raw!r}")
    return raw or None


async def checked_request(
    session: AsyncSession, *, sysadmin: bool, registry_id: int, metadata: dict[str, str]
) -> ProxyRequest:
    """Harbor's checks of a proxy-cache project request, in Harbor's order."""
    if not sysadmin:
        raise Forbidden(ONLY_ADMINS)
    row = await endpoints.get_registry(session, registry_id)
    if row is None:
        raise BadRequest(f"registry {registry_id} not found")
    if row.type not in PROXY_TYPES:
        raise BadRequest(f"unsupported registry type {row.type}")
    return ProxyRequest(registry_id, proxy_settings.checked(metadata))


async def make_proxy(
    session: AsyncSession, project: Project, request: ProxyRequest, *, by: Actor
) -> None:
    """Bind the new ``project`` to its endpoint, with its proxy metadata and retention."""
    proxies.add(session, project.id, request.registry_id)
    meta = dict(project.project_metadata or {})
    for key in DROPPED:
        meta.pop(key, None)
    meta.update(request.metadata)
    project.project_metadata = meta
    await session.flush()
    await projects.set_metadata(session, project, {})
    policy = parse_policy(
        {
            "algorithm": "or",
            "rules": [
                {
                    "action": "retain",
                    "template": "nDaysSinceLastPull",
                    "params": {"nDaysSinceLastPull": RETENTION_DAYS},
                    "tag_selectors": [
                        {"kind": "doublestar", "decoration": "matches", "pattern": "**"}
                    ],
                    "scope_selectors": {
                        "repository": [
                            {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}
                        ]
                    },
                }
            ],
            "trigger": {"kind": "Schedule", "settings": {"cron": RETENTION_CRON}},
            "scope": {"level": "project", "ref": project.id},
        }
    )
    await retention.create_policy(session, project, policy, by=by)
