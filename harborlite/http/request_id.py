"""The request id: accept ``X-Request-Id`` (or make one) and echo it on the response.

Pure ASGI (Starlette's BaseHTTPMiddleware is not meant for streaming). It is the outermost
layer, so every log line and every error envelope below it can name the request.
"""

from __future__ import annotations

import os
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
            request_id = os.urandom(16).hex().encode()  # 32 hex digits, as uuid4().hex, quicker
            scope["headers"] = [
                *(h for h in scope["headers"] if h[0] != b"x-request-id"),
                (b"x-request-id", request_id),
            ]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)
