"""The ``/api/v2.0`` application: every resource module's routes, one error renderer."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from harborlite.api import (
    additions,
    artifact_copy,
    artifact_labels,
    artifacts,
    audit,
    labels,
    members,
    metadatas,
    openapi,
    permissions,
    projects,
    repositories,
    search,
    system,
    tags,
    users,
)
from harborlite.errors import HarborliteError

log = logging.getLogger("harborlite.api")

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    412: "PRECONDITION",
}


async def harborlite_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HarborliteError)
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="harborlite"'
    return JSONResponse(exc.envelope(), status_code=exc.status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "UNKNOWN")
    message = "no such API endpoint" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse(
        {"errors": [{"code": code, "message": message}]},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def internal_error(request: Request, exc: Exception) -> Response:
    request_id = request.headers.get("x-request-id", "-")
    log.exception(
        "internal error on %s %s (request %s)",
        request.method,
        request.url.path,
        request_id,
        exc_info=exc,
    )
    return JSONResponse(
        {"errors": [{"code": "UNKNOWN", "message": f"internal error; request id {request_id}"}]},
        status_code=500,
    )


def api_app() -> Starlette:
    routes = [
        *system.ROUTES,
        *permissions.ROUTES,
        *users.ROUTES,
        *projects.ROUTES,
        *members.ROUTES,
        *metadatas.ROUTES,
        *audit.ROUTES,
        *repositories.ROUTES,
        *artifacts.ROUTES,
        *artifact_copy.ROUTES,
        *tags.ROUTES,
        *additions.ROUTES,
        *labels.ROUTES,
        *artifact_labels.ROUTES,
        *search.ROUTES,
        *openapi.ROUTES,
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            HarborliteError: harborlite_error,
            HTTPException: http_error,
            Exception: internal_error,
        },
    )
