"""How the REST API answers an error: Harbor's envelope, in this one place.

A :class:`~harborlite.errors.HarborliteError` is rendered with its status and code; Starlette's
own ``HTTPException`` (no route, wrong method) in the same envelope; a database exception is
translated (a unique key taken by a concurrent writer is a 409); a 429 (a login lockout) says
when to come back in ``Retry-After``; anything else is a 500 whose
details go to the log with the request id, never to the client.

A 401 asks for Basic credentials (``WWW-Authenticate: Basic``) only from clients that are not
browsers: a browser would prompt for them and then send them with every request to harborlite,
a cross-site page's too. The portal signs in through its own form.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from harborlite.db.errors import translated
from harborlite.errors import HarborliteError, TooManyRequests, envelope
from harborlite.http.origin import from_browser

log = logging.getLogger("harborlite.api")

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    412: "PRECONDITION",
    413: "PAYLOAD_TOO_LARGE",
    429: "TOO_MANY_REQUESTS",
}


def render(error: HarborliteError, request: Request | None = None) -> Response:
    headers = {}
    if error.status == 401 and (request is None or not from_browser(request.scope)):
        headers["WWW-Authenticate"] = 'Basic realm="harborlite"'
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse(error.envelope(), status_code=error.status, headers=headers)


async def harborlite_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HarborliteError)
    return render(exc, request)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "UNKNOWN")
    message = "no such API endpoint" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse(envelope(code, message), status_code=exc.status_code, headers=exc.headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    known = translated(exc)
    if known is not None:
        log.warning("%s %s: %s (%s)", request.method, request.url.path, known.message, exc)
        return render(known, request)
    request_id = request.headers.get("x-request-id", "-")
    log.exception(
        "internal error on %s %s (request %s)",
        request.method,
        request.url.path,
        request_id,
        exc_info=exc,
    )
    return JSONResponse(
        envelope("UNKNOWN", f"internal error; request id {request_id}"), status_code=500
    )
