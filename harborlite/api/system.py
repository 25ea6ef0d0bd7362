"""``/health``, ``/systeminfo``, ``/ping``."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harborlite import __version__
from harborlite.api.render import iso
from harborlite.db.models import utcnow
from harborlite.services import services_of


async def health(request: Request) -> Response:
    services = services_of(request)
    components = [{"name": "core", "status": "healthy"}]
    try:
        async with services.sessions() as session:
            await session.execute(text("SELECT 1"))
        components.append({"name": "database", "status": "healthy"})
    except Exception as error:  # any failure makes the component unhealthy
        components.append(
            {"name": "database", "status": "unhealthy", "error": type(error).__name__}
        )
    registry = {"name": "registry", "status": "healthy"}
    supervisor = services.supervisor
    if supervisor is not None:
        if not supervisor.healthy:
            registry = {
                "name": "registry",
                "status": "unhealthy",
                "error": "the registry process is not running; harborlite restarts it",
            }
    else:
        try:
            status, _, _ = await services.upstream.fetch("GET", "", "/v2/", ())
            if status not in (200, 401):
                registry = {
                    "name": "registry",
                    "status": "unhealthy",
                    "error": f"registry answered {status}",
                }
        except Exception as error:  # translated into the component's status
            registry = {"name": "registry", "status": "unhealthy", "error": str(error)}
    components.append(registry)
    if services.settings.redis_url:
        components.append(await _redis_health(services.settings.redis_url))
    overall = "healthy" if all(c["status"] == "healthy" for c in components) else "unhealthy"
    return JSONResponse({"status": overall, "components": components})


async def _redis_health(url: str) -> dict[str, str]:
    import redis.asyncio as redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as error:  # translated into the component's status
        return {"name": "redis", "status": "unhealthy", "error": type(error).__name__}
    finally:
        await client.aclose()
    return {"name": "redis", "status": "healthy"}


async def systeminfo(request: Request) -> Response:
    settings = services_of(request).settings
    return JSONResponse(
        {
            "auth_mode": "db_auth",
            "primary_auth_mode": False,
            "project_creation_restriction": "everyone",
            "self_registration": False,
            "has_ca_root": False,
            "harbor_version": f"v2.10.0-harborlite-{__version__}",
            "registry_url": settings.external_host,
            "external_url": settings.external_url,
            "registry_storage_provider_name": "filesystem",
            "read_only": False,
            "notification_enable": False,
            "banner_message": "",
            "current_time": iso(utcnow()),
        }
    )


async def ping(request: Request) -> Response:
    return PlainTextResponse("Pong")


ROUTES = [
    Route("/health", health, methods=["GET"]),
    Route("/systeminfo", systeminfo, methods=["GET"]),
    Route("/ping", ping, methods=["GET"]),
]
