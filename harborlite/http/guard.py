"""The outermost net, pure ASGI: bounded request bodies and the catch-all 500.

Bodies of ``/v2/`` (layers of any size) stream through unbounded; every other body is bounded
by its surface's limit below. A declared ``Content-Length`` over the limit is refused before the
app runs; a body without one (``Transfer-Encoding: chunked``) is counted as it arrives, and the
read that passes the limit raises :class:`~harborlite.errors.PayloadTooLarge`, which the
surface renders (the API in Harbor's envelope) or, when no surface did, this middleware does.
An error no surface handled becomes a 500 in the ``{"errors": [...]}`` envelope with the
request id, never a stack trace or a plain-text page.
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harborlite.db.errors import translated
from harborlite.errors import PayloadTooLarge, envelope, envelope_bytes

log = logging.getLogger("harborlite")

TOKEN_BODY_LIMIT = 64 * 1024
API_BODY_LIMIT = 1024 * 1024
PORTAL_BODY_LIMIT = 256 * 1024

# What the registry writes for its errors; the API and the token service write JSONResponse's.
_REGISTRY_JSON = "application/json; charset=utf-8"


def _is_registry(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def _limit_for(path: str) -> int | None:
    if _is_registry(path):
        return None
    if path.startswith("/service/token"):
        return TOKEN_BODY_LIMIT
    if path.startswith("/api/"):
        return API_BODY_LIMIT
    return PORTAL_BODY_LIMIT


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body larger than {limit} bytes")


class GuardMiddleware:
    """Request bodies outside ``/v2/`` are bounded (413); an unhandled error is a 500 in the
    envelope with the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = _limit_for(scope["path"])
        request_id = "-"
        length = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                length = value
            elif key == b"x-request-id":
                request_id = value.decode("latin-1")
        if limit is not None and length is not None:
            try:
                declared_too_large = int(length) > limit
            except ValueError:
                declared_too_large = True
            if declared_too_large:
                await _answer(scope, receive, send, too_large(limit))
                return
        started = False
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if limit is not None and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive if limit is not None else receive, tracking_send)
        except PayloadTooLarge as refused:  # no surface rendered it (the token service)
            if not started:
                await _answer(scope, receive, send, refused)
        except Exception as error:
            known = translated(error)  # a database that is down: 503, never a 500
            if known is not None:
                log.warning(
                    "%s %s (request %s): %s",
                    scope["method"],
                    scope["path"],
                    request_id,
                    known.message,
                    exc_info=error,
                )
                if not started:
                    await _send_error(scope, receive, send, known.status, known.code, known.message)
                return
            log.exception(
                "unhandled error on %s %s (request %s)", scope["method"], scope["path"], request_id
            )
            if not started:
                await _send_error(
                    scope, receive, send, 500, "UNKNOWN", f"internal error; request id {request_id}"
                )


async def _answer(scope: Scope, receive: Receive, send: Send, error: PayloadTooLarge) -> None:
    await _send_error(scope, receive, send, error.status, error.code, error.message)


async def _send_error(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str
) -> None:
    """The envelope as the path's surface writes it: the registry's bytes under ``/v2/``,
    JSONResponse's (the API's and the token service's) everywhere else."""
    response: Response
    if _is_registry(scope["path"]):
        response = Response(envelope_bytes(code, message), status, media_type=_REGISTRY_JSON)
    else:
        response = JSONResponse(envelope(code, message), status)
    await response(scope, receive, send)
