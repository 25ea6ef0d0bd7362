"""What every portal page shares: the viewer, rendering, flash messages, forms with CSRF."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from harborlite import __version__
from harborlite.errors import Forbidden
from harborlite.http.session_auth import signed_in_of
from harborlite.portal import formatting
from harborlite.portal.activity import ActivityCache
from harborlite.portal.config import PortalConfig
from harborlite.sessions.csrf import ANON_CSRF_COOKIE, CSRF_FIELD, tokens_match
from harborlite.sessions.store import SignedIn

FLASH_COOKIE = "harborlite_flash"


@dataclass(frozen=True)
class Portal:
    """Held in the portal app's state: its configuration and template environment."""

    config: PortalConfig
    templates: jinja2.Environment
    activity: ActivityCache


def make_templates(config: PortalConfig) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(config.templates_dir)),
        autoescape=True,  # every user-supplied string is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        size=formatting.human_size,
        when=formatting.timestamp,
        ago=formatting.ago,
        short=formatting.short_digest,
        role=formatting.role_title,
        urlpart=lambda value: quote(str(value), safe=""),
        urlpath=lambda value: quote(str(value), safe="/"),
    )
    env.globals.update(version=__version__)
    return env


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def viewer_of(request: Request) -> SignedIn | None:
    return signed_in_of(request.scope)


class LoginRequired(Exception):
    """No live session: the portal answers with a redirect to the login page."""


def require_viewer(request: Request) -> SignedIn:
    viewer = viewer_of(request)
    if viewer is None:
        raise LoginRequired()
    return viewer


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    csrf: str | None = None,
    **context: Any,
) -> HTMLResponse:
    portal = portal_of(request)
    viewer = viewer_of(request)
    flash = _read_flash(request)
    if csrf is None:
        csrf = viewer.csrf_token if viewer else request.cookies.get(ANON_CSRF_COOKIE, "")
    html = portal.templates.get_template(template).render(
        request=request,
        viewer=viewer,
        csrf_token=csrf,
        flash=flash,
        registry_host=portal.config.external_host,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, url: str, *, notice: str = "", error: str = "") -> Response:
    """Post/redirect/get, with a one-time message shown on the next page."""
    response = RedirectResponse(url, status_code=303)
    if notice or error:
        payload = json.dumps({"kind": "error" if error else "ok", "text": error or notice})
        response.set_cookie(
            FLASH_COOKIE,
            base64.urlsafe_b64encode(payload.encode()).decode(),
            max_age=60,
            path="/",
            httponly=True,
            samesite="lax",
            secure=portal_of(request).config.secure_cookies,
        )
    return response


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {"kind": str(value.get("kind", "ok")), "text": str(value.get("text", ""))}


async def checked_form(request: Request) -> FormData:
    """The posted form, after its CSRF token was checked against the session (or, before
    login, against the double-submit cookie). A form without a valid token is refused."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    viewer = viewer_of(request)
    expected = viewer.csrf_token if viewer else request.cookies.get(ANON_CSRF_COOKIE)
    if not isinstance(given, str) or not tokens_match(given, expected):
        raise Forbidden(
            "This form was not sent by your harborlite session (missing or stale CSRF token). "
            "Reload the page and try again."
        )
    return form


def text_field(form: FormData, name: str, *, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return min(max(1, int(raw)), 10_000_000) if raw.isdigit() and len(raw) < 12 else 1


def safe_next(value: str | None) -> str:
    """Only a path on this site may be a post-login destination."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
