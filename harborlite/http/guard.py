"""Pure ASGI middleware (Starlette's BaseHTTPMiddleware is not meant for streaming)."""

from __future__ import annotations

import json
import logging
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("harborlite")

_SAFE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Accept ``X-Request-Id`` (or make one) and echo it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                request_id = value if _SAFE_ID.match(value) else None
                break
        if request_id is None:
            # a missing or unsafe id is replaced, so what is logged is what is echoed
            request_id = uuid.uuid4().hex.encode()
            scope["headers"] = [
                *(h for h in scope["headers"] if h[0] != b"x-request-id"),
                (b"x-request-id", request_id),
            ]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyTooLarge(Exception):
    pass


def _limit_for(path: str) -> int | None:
    """Bodies of ``/v2/`` (layers of any size) stream through unbounded; the rest are small."""
    if path.startswith("/v2/") or path == "/v2":
        return None
    if path.startswith("/service/token"):
        return TOKEN_BODY_LIMIT
    if path.startswith("/api/"):
        return API_BODY_LIMIT
    return PORTAL_BODY_LIMIT


TOKEN_BODY_LIMIT = 64 * 1024
API_BODY_LIMIT = 1024 * 1024
PORTAL_BODY_LIMIT = 256 * 1024


class GuardMiddleware:
    """The outermost net: request bodies outside ``/v2/`` are bounded (413), and an error no
    surface handled becomes a 500 in the ``{"errors": [...]}`` envelope with the request id,
    never a stack trace or a plain-text page."""

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
                too_large = int(length) > limit
            except ValueError:
                too_large = True
            if too_large:
                await _send_envelope(
                    send, 413, "PAYLOAD_TOO_LARGE", f"request body larger than {limit} bytes"
                )
                return
        started = False
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if limit is not None and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive if limit is not None else receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send_envelope(
                    send, 413, "PAYLOAD_TOO_LARGE", f"request body larger than {limit} bytes"
                )
        except Exception:
            log.exception(
                "unhandled error on %s %s (request %s)", scope["method"], scope["path"], request_id
            )
            if not started:
                await _send_envelope(
                    send, 500, "UNKNOWN", f"internal error; request id {request_id}"
                )


async def _send_envelope(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
