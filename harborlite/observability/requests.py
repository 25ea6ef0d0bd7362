"""Every HTTP request counted by surface, method and status, and timed: pure ASGI.

It sits inside the request id middleware (so the id is in the headers) and above the dispatch
to the surfaces, so ``/service/token`` and ``/metrics`` are counted too. On the hot path it
does a few dictionary lookups, one context variable set and three metric updates; the body
messages go through untouched (a blob sent with sendfile(2) never passes here at all).
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harborlite.observability.context import RequestContext, current_request
from harborlite.observability.metrics import Metrics

METRICS_PATH = "/metrics"


def surface_of(path: str) -> str:
    """Which surface answers ``path``: v2, api, token, metrics, or the portal (the rest)."""
    if path == "/v2" or path.startswith("/v2/"):
        return "v2"
    if path == "/api" or path.startswith("/api/"):
        return "api"
    if path.startswith("/service/"):
        return "token"
    if path == METRICS_PATH:
        return "metrics"
    return "portal"


class ObservedRequests:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        surface = surface_of(path)
        request_id = ""
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                request_id = value.decode("latin-1")
                break
        client = scope.get("client")
        token = current_request.set(
            RequestContext(request_id, client[0] if client else "", method, path)
        )
        status = 0  # no answer: the client left first

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics
        metrics.request_started(surface)
        try:
            await self.app(scope, receive, observed_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            metrics.request_done(surface, method, status, time.perf_counter() - started)
            current_request.reset(token)
