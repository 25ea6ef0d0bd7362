"""``GET /metrics``: the app's metrics in the Prometheus text format.

Open to anyone who reaches the port, as exporters usually are (and as Harbor's exporter is):
the labels hold no names (see :mod:`harborlite.observability.metrics`), only counts and times.
A deployment that faces the Internet keeps ``/metrics`` off its load balancer or ingress and
lets Prometheus scrape each replica directly. No session, no database: a scrape costs one pass
over the registry.
"""

from __future__ import annotations

from prometheus_client import generate_latest
from starlette.types import Receive, Scope, Send

from harborlite.errors import envelope_bytes
from harborlite.services import services_of

# the text format every Prometheus reads (the names here need none of 1.0.0's escaping)
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


async def metrics_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        refusal = envelope_bytes("METHOD_NOT_ALLOWED", "use GET or HEAD")
        refused = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(refusal)).encode()),
            (b"allow", b"GET, HEAD"),
        ]
        await send({"type": "http.response.start", "status": 405, "headers": refused})
        await send({"type": "http.response.body", "body": refusal})
        return
    payload = generate_latest(services_of(scope).metrics.registry)
    headers = [
        (b"content-type", CONTENT_TYPE),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    body = b"" if scope["method"] == "HEAD" else payload
    await send({"type": "http.response.body", "body": body})
