"""``/health``, ``/systeminfo``, ``/ping``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harborlite import __version__, health
from harborlite.api.render import iso
from harborlite.db.models import utcnow
from harborlite.services import services_of


async def health_check(request: Request) -> Response:
    services = services_of(request)
    components = await health.components(
        services.sessions, services.upstream, services.supervisor, services.settings.redis_url
    )
    overall = "healthy" if all(c.healthy for c in components) else "unhealthy"
    return JSONResponse({"status": overall, "components": [c.json() for c in components]})


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
            "registry_storage_provider_name": settings.storage,
            "read_only": False,
            "notification_enable": False,
            "banner_message": "",
            "current_time": iso(utcnow()),
        }
    )


async def ping(request: Request) -> Response:
    return PlainTextResponse("Pong")


ROUTES = [
    Route("/health", health_check, methods=["GET"]),
    Route("/systeminfo", systeminfo, methods=["GET"]),
    Route("/ping", ping, methods=["GET"]),
]
