"""Pure ASGI middleware: the portal session cookie as a way to authenticate.

For requests carrying the session cookie and no ``Authorization`` header it resolves the session
and puts the :class:`~harborlite.auth.permissions.Principal` into
``scope["harborlite.principal"]``, where the REST API's ``caller()`` and the portal's pages find
it. Cookie-authenticated writes to ``/api/`` must carry ``X-Harbor-CSRF-Token``.
Portal pages also get their security headers and a ``Server-Timing`` header here.
"""

from __future__ import annotations

import time
from datetime import timedelta

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harborlite.auth.permissions import Principal
from harborlite.errors import envelope
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
            if signed_in is not None and scope["method"] in UNSAFE_METHODS:
                if not tokens_match(headers.get(CSRF_HEADER), signed_in.csrf_token):
                    await _refuse_api(scope, receive, send)
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


async def _refuse_api(scope: Scope, receive: Receive, send: Send) -> None:
    """The API's 403, written as the API writes its answers (JSONResponse, Harbor's envelope)."""
    refusal = envelope(
        "FORBIDDEN",
        "CSRF token missing or invalid: send the X-Harbor-CSRF-Token "
        "header with writes made with the portal session cookie",
    )
    await JSONResponse(refusal, 403)(scope, receive, send)
