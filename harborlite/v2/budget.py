"""The per-client budget of requests proxied to the registry.

At most ``max_proxied`` requests of one user (the token's subject; an anonymous caller is its
address) and of one client address are with the registry at once, and of those at most
``max_uploads`` are uploads (blob ``POST``/``PATCH``/``PUT``). A request is counted from the
moment :func:`~harborlite.v2.forward.registry_answer` sends it until its answer is released;
blobs served from storage and manifests from the cache never reach the registry and are not
counted. One over the budget raises :class:`OverBudget` before anything is sent, and
:class:`BudgetedGateway` (around the gateway) answers it ``429 TOOMANYREQUESTS`` with
``Retry-After``, in the access log as a refusal.

The counts live in this process: with several replicas each counts its own (a client spread
over N replicas by the load balancer gets up to N times the budget; a shared count would need
Redis with expiring per-request entries).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

from harborlite.http.origin import header, origin_of
from harborlite.services import services_of
from harborlite.settings import Settings
from harborlite.v2 import quota_guard
from harborlite.v2.access_log import access_logged
from harborlite.v2.challenge import send_error
from harborlite.v2.routes import Kind, parse_route

BUDGET_KEY = "harborlite.budget"  # the scope key the gateway's budget is found under
RETRY_AFTER_SECONDS = 2


class OverBudget(Exception):
    """A proxied request over its client's budget; nothing was sent to the registry."""

    def __init__(self, message: str, subject: str, body: bytes | None) -> None:
        super().__init__(message)
        self.message = message
        self.subject = subject
        self.body = body  # a manifest PUT's body, read before the budget was asked


@dataclass
class ProxyBudget:
    max_proxied: int
    max_uploads: int
    _proxied: dict[str, int] = field(default_factory=dict)
    _uploads: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> ProxyBudget:
        return cls(settings.max_proxied_per_client, settings.max_uploads_per_client)

    def in_flight(self, key: str) -> tuple[int, int]:
        """(proxied, uploads) of ``key`` now."""
        return self._proxied.get(key, 0), self._uploads.get(key, 0)

    @contextlib.contextmanager
    def held(
        self, keys: tuple[str, ...], upload: bool, subject: str = "", body: bytes | None = None
    ) -> Iterator[None]:
        """One request of each of ``keys`` with the registry for the block; raises
        :class:`OverBudget` when one key is full."""
        for key in keys:
            proxied, uploads = self.in_flight(key)
            if proxied >= self.max_proxied:
                message = (
                    f"too many requests of {key} with the registry at once "
                    f"(at most {self.max_proxied})"
                )
                raise OverBudget(message, subject, body)
            if upload and uploads >= self.max_uploads:
                message = f"too many uploads of {key} at once (at most {self.max_uploads})"
                raise OverBudget(message, subject, body)
        for key in keys:
            self._proxied[key] = self._proxied.get(key, 0) + 1
            if upload:
                self._uploads[key] = self._uploads.get(key, 0) + 1
        try:
            yield
        finally:
            for key in keys:
                _decrement(self._proxied, key)
                if upload:
                    _decrement(self._uploads, key)


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def subject_of(scope: Scope) -> str:
    """The subject of the request's bearer token, read without a signature check: only
    requests the gateway verified reach the registry (and the registry checks again)."""
    authorization = header(scope, b"authorization") or ""
    parts = authorization[7:].strip().split(".")
    if not authorization.lower().startswith("bearer ") or len(parts) != 3:
        return ""
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return ""
    subject = payload.get("sub") if isinstance(payload, dict) else None
    return subject if isinstance(subject, str) else ""


def is_upload(scope: Scope) -> bool:
    route = parse_route(scope["path"], scope.get("query_string", b""))
    return (
        route is not None
        and route.kind is Kind.UPLOAD
        and scope["method"] in ("POST", "PATCH", "PUT")
    )


@contextlib.contextmanager
def proxied(scope: Scope, body: bytes | None) -> Iterator[None]:
    """Around one request with the registry: counted against its user's and its address's
    budget (when the app has one); :class:`OverBudget` when either is full."""
    budget: ProxyBudget | None = scope.get(BUDGET_KEY)
    if budget is None:
        yield
        return
    subject = subject_of(scope)
    address = origin_of(scope).client_ip or "unknown"
    keys = (f"address {address}",) if not subject else (f"user {subject}", f"address {address}")
    with budget.held(keys, is_upload(scope), subject, body):
        yield


class BudgetedGateway:
    """The ``/v2/`` gateway with a budget: puts it in the scope, answers :class:`OverBudget`."""

    def __init__(self, app: ASGIApp, budget: ProxyBudget) -> None:
        self.app = app
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[BUDGET_KEY] = self.budget
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        except OverBudget as over:
            await _undo_bookkeeping(scope, over)
            await send_error(
                send,
                429,
                "TOOMANYREQUESTS",
                f"{over.message}; try again in {RETRY_AFTER_SECONDS} seconds",
                headers=[(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
                head=scope["method"] == "HEAD",
            )
            access_logged(scope, 429, started, over.subject, "refused", over.message)


async def _undo_bookkeeping(scope: Scope, over: OverBudget) -> None:
    """What the gateway noted before it asked the registry (a quota reservation) is undone, as
    for any answer of the registry that is not a success."""
    route = parse_route(scope["path"], scope.get("query_string", b""))
    if route is None:
        return
    services = services_of(scope)
    if route.kind is Kind.UPLOAD:
        await quota_guard.uploaded(services, scope, route, 429, [])
    elif route.kind is Kind.MANIFEST and scope["method"] == "PUT" and over.body is not None:
        await quota_guard.manifest_answered(services, route, over.body, 429)
