"""The request a log line was written for, kept in a context variable while it is answered.

Set by :class:`~harborlite.observability.requests.ObservedRequests` for each HTTP request
(each runs in a task of its own, so requests never see each other's), read by the JSON log
format: every line written while a request is answered names its request id and client.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    client_ip: str
    method: str
    path: str


current_request: ContextVar[RequestContext | None] = ContextVar("harborlite_request", default=None)
