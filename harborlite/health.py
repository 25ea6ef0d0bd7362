"""The health of what harborlite depends on: the database, the registry, Redis.

``/api/v2.0/health`` and the portal's system page both ask here. Each check answers a
:class:`Component`; a failure is the component's status, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from harborlite.upstream.client import Upstream
    from harborlite.upstream.supervisor import RegistrySupervisor


@dataclass(frozen=True)
class Component:
    name: str
    healthy: bool
    error: str = ""

    def json(self) -> dict[str, str]:
        """Harbor's form: ``{"name", "status"}``, with ``error`` when unhealthy."""
        body = {"name": self.name, "status": "healthy" if self.healthy else "unhealthy"}
        if not self.healthy:
            body["error"] = self.error
        return body


async def database(sessions: async_sessionmaker[AsyncSession]) -> Component:
    try:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as error:  # any failure makes the component unhealthy
        return Component("database", False, type(error).__name__)
    return Component("database", True)


async def registry(upstream: Upstream, supervisor: RegistrySupervisor | None) -> Component:
    """The embedded registry by its supervisor's word; an external one by asking ``/v2/``."""
    if supervisor is not None:
        if supervisor.healthy:
            return Component("registry", True)
        return Component(
            "registry", False, "the registry process is not running; harborlite restarts it"
        )
    try:
        status, _, _ = await upstream.fetch("GET", "", "/v2/", ())
    except Exception as error:  # translated into the component's status
        return Component("registry", False, str(error))
    if status not in (200, 401):
        return Component("registry", False, f"registry answered {status}")
    return Component("registry", True)


async def redis(url: str) -> Component:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as error:  # translated into the component's status
        return Component("redis", False, type(error).__name__)
    finally:
        await client.aclose()
    return Component("redis", True)


async def components(
    sessions: async_sessionmaker[AsyncSession],
    upstream: Upstream,
    supervisor: RegistrySupervisor | None,
    redis_url: str | None,
) -> list[Component]:
    """Every dependency's health, harborlite's own core first."""
    found = [
        Component("core", True),
        await database(sessions),
        await registry(upstream, supervisor),
    ]
    if redis_url:
        found.append(await redis(redis_url))
    return found
