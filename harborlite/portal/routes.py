"""The portal application: its pages, its static files, and one error renderer (HTML pages in
the portal's own look)."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from harborlite.db.errors import translated
from harborlite.errors import HarborliteError, Unauthorized
from harborlite.portal import (
    account_pages,
    admin_pages,
    dashboard,
    gc_pages,
    key_pages,
    members,
    policy_pages,
    project_tabs,
    projects,
    quota_pages,
    registry_pages,
    replication_pages,
    repository_pages,
    retention_pages,
    robot_pages,
    scan_pages,
    webhook_pages,
)
from harborlite.portal.account_pages import login_redirect
from harborlite.portal.activity import ActivityCache
from harborlite.portal.config import PortalConfig
from harborlite.portal.pages import LoginRequired, Portal, make_templates, render

log = logging.getLogger("harborlite.portal")

_TITLES = {
    400: "Bad request",
    401: "Sign in required",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    412: "Cannot do that yet",
    413: "Too large",
    503: "Registry unavailable",
}


async def _login_required(request: Request, exc: Exception) -> Response:
    return login_redirect(request)


def _error_page(request: Request, status: int, message: str) -> Response:
    return render(
        request,
        "error.html",
        status=status,
        nav="",
        status_code=status,
        title=_TITLES.get(status, "Something went wrong"),
        message=message,
    )


async def _harborlite_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HarborliteError)
    if isinstance(exc, Unauthorized):
        return login_redirect(request)
    return _error_page(request, exc.status, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = "There is nothing at this address. It may have been deleted, or never existed."
    else:
        message = str(exc.detail)
    return _error_page(request, exc.status_code, message)


async def _internal_error(request: Request, exc: Exception) -> Response:
    known = translated(exc)  # a concurrent writer took the name first, or a busy database
    if known is not None:
        log.warning("%s %s: %s (%s)", request.method, request.url.path, known.message, exc)
        return _error_page(request, known.status, known.message)
    request_id = request.headers.get("x-request-id", "-")
    log.exception(
        "portal error on %s %s (request %s)",
        request.method,
        request.url.path,
        request_id,
        exc_info=exc,
    )
    return _error_page(
        request, 500, f"harborlite could not show this page. Request id: {request_id}."
    )


def portal_app(config: PortalConfig) -> Starlette:
    routes = [
        Mount("/static", app=StaticFiles(directory=str(config.static_dir)), name="static"),
        *account_pages.ROUTES,
        *dashboard.ROUTES,
        *projects.ROUTES,
        *project_tabs.ROUTES,
        *members.ROUTES,
        *robot_pages.ROUTES,
        *policy_pages.ROUTES,
        *retention_pages.ROUTES,
        *scan_pages.ROUTES,  # before repository_pages: its {name:path} takes any path
        *repository_pages.ROUTES,
        *admin_pages.ROUTES,
        *quota_pages.ROUTES,
        *gc_pages.ROUTES,
        *key_pages.ROUTES,
        *registry_pages.ROUTES,
        *replication_pages.ROUTES,
        *webhook_pages.ROUTES,
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            LoginRequired: _login_required,
            HarborliteError: _harborlite_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    app.state.portal = Portal(
        config=config, templates=make_templates(config), activity=ActivityCache()
    )
    return app
