"""Pure ASGI middleware: the portal session cookie as a way to authenticate.

For requests carrying the session cookie and no ``Authorization`` header it resolves the session
and puts the :class:`~harborlite.auth.permissions.Principal` into
``scope["harborlite.principal"]``, where the REST API's ``caller()`` and the portal's pages find
it. Portal pages also get their security headers and a ``Server-Timing`` header here.

Writes to ``/api/`` (POST, PUT, PATCH, DELETE) are checked here, before any handler or login
runs, against cross-site requests a browser could be made to send with the user's credentials
(the session cookie, or Basic credentials the browser cached):

- a body is JSON, said so: a ``Content-Type`` other than ``application/json`` (parameters such
  as ``charset`` allowed), or a body without one, is 415 ``UNSUPPORTED_MEDIA_TYPE``. The types
  a page can send cross-site without asking (``text/plain``, forms) are never taken;
- a cookie-authenticated write carries the session's ``X-Harbor-CSRF-Token``, whoever sent it;
- any other write a browser sent for a page (an ``Origin`` header, or ``Sec-Fetch-Site``
  ``cross-site``/``same-site``) is refused 403 unless the page is harborlite's own (its
  ``Origin`` is the external URL's). With Basic or bearer credentials there is no session, so
  no token to check: the browser's ``Origin``, which no page can forge, is the proof; clients
  that are not browsers send no ``Origin`` and are not affected.
"""

from __future__ import annotations

import time
from datetime import timedelta

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harborlite.auth.permissions import Principal
from harborlite.errors import envelope
from harborlite.http.origin import page_originated, same_origin
from harborlite.services import services_of
from harborlite.sessions.csrf import CSRF_HEADER, UNSAFE_METHODS, tokens_match
from harborlite.sessions.store import SESSION_COOKIE, SignedIn, resolve_session

SESSION_SCOPE_KEY = "harborlite.portal_session"
PRINCIPAL_SCOPE_KEY = "harborlite.principal"

# Paths that never look at the cookie: the registry hot path and the token service.
_UNTOUCHED = ("/v2", "/service/token", "/static/")

_PAGE_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


_CLEAR_SESSION = f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax".encode()


def principal_in(scope: Scope) -> Principal | None:
    """The caller the session cookie named, for the REST API (None without a live session)."""
    value = scope.get(PRINCIPAL_SCOPE_KEY)
    return value if isinstance(value, Principal) else None


def signed_in_of(scope: Scope) -> SignedIn | None:
    value = scope.get(SESSION_SCOPE_KEY)
    return value if isinstance(value, SignedIn) else None


class PortalSessionMiddleware:
    def __init__(self, app: ASGIApp, *, idle_minutes: int, max_hours: int) -> None:
        self.app = app
        self.idle = timedelta(minutes=idle_minutes)
        self.lifetime = timedelta(hours=max_hours)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(_UNTOUCHED):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        token = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
        signed_in = None
        if token and "authorization" not in headers:
            services = services_of(scope)
            async with services.sessions() as session:
                signed_in = await resolve_session(
                    session, token, idle=self.idle, lifetime=self.lifetime
                )
            if signed_in is not None:
                scope[PRINCIPAL_SCOPE_KEY] = signed_in.principal
                scope[SESSION_SCOPE_KEY] = signed_in
        if path.startswith("/api/"):
            if scope["method"] in UNSAFE_METHODS:
                refusal = write_refusal(scope, headers, signed_in)
                if refusal is not None:
                    await refusal(scope, receive, send)
                    return
            await self.app(scope, receive, send)
            return
        stale = bool(token) and signed_in is None and "authorization" not in headers

        async def send_page(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                extra = [*_PAGE_HEADERS, (b"server-timing", f"app;dur={elapsed:.1f}".encode())]
                if signed_in is not None:
                    extra.append((b"x-harbor-csrf-token", signed_in.csrf_token.encode()))
                if stale:
                    extra.append((b"set-cookie", _CLEAR_SESSION))
                existing = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *[(k, v) for k, v in extra if k not in existing or k == b"set-cookie"],
                ]
            await send(message)

        await self.app(scope, receive, send_page)


def json_media_type(content_type: str) -> bool:
    """``application/json``, with or without parameters (``; charset=utf-8``)."""
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def _has_body(headers: Headers) -> bool:
    if "transfer-encoding" in headers:
        return True
    try:
        return int(headers.get("content-length") or 0) > 0
    except ValueError:
        return True


def write_refusal(scope: Scope, headers: Headers, signed_in: SignedIn | None) -> Response | None:
    """The API's answer refusing this write (415 or 403), or None to let it through."""
    content_type = headers.get("content-type")
    if content_type is not None and not json_media_type(content_type):
        return _api_refusal(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"unsupported media type {content_type!r}: the REST API takes application/json",
        )
    if content_type is None and _has_body(headers):
        return _api_refusal(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "the request body has no Content-Type: the REST API takes application/json",
        )
    if signed_in is not None:  # the cookie authenticates: its token, whoever sent the request
        if tokens_match(headers.get(CSRF_HEADER), signed_in.csrf_token):
            return None
        return _api_refusal(
            403,
            "FORBIDDEN",
            "CSRF token missing or invalid: send the X-Harbor-CSRF-Token "
            "header with writes made with the portal session cookie",
        )
    if page_originated(scope) and not same_origin(scope, services_of(scope).settings.external_url):
        origin = headers.get("origin") or "another site"
        return _api_refusal(
            403,
            "FORBIDDEN",
            f"cross-origin write refused: a page of {origin} may not write to the API; "
            "browsers write through the portal's session and CSRF token",
        )
    return None


def _api_refusal(status: int, code: str, message: str) -> Response:
    """A refusal written as the API writes its answers (JSONResponse, Harbor's envelope)."""
    return JSONResponse(envelope(code, message), status)
