"""The connection budget at the HTTP protocol: uvicorn's httptools protocol with three limits.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but waits forever for a
request head, and its ``limit_concurrency`` answers a bare 503. :class:`BudgetedProtocol` adds:

- **a header timeout**: a connection that has not delivered a whole request head within
  ``header_timeout`` seconds of opening (or of its first byte after an answer) is closed, with a
  ``408`` first when part of a head arrived;
- **a head size limit**: a head still incomplete past :data:`MAX_HEAD_BYTES` is answered ``431``
  and closed (httptools keeps every header it reads);
- **a connection limit**: a connection opened while ``max_connections`` are open gets, for its
  request, ``503`` with ``Retry-After`` in the ``{"errors": [...]}`` envelope, and is closed.

It also joins each response's head to its first body bytes (:class:`HeadWithBody`): one write,
where uvicorn writes the status line and headers alone and then the body.

:func:`protocol_for` makes the class uvicorn is given (``uvicorn.Config(http=...)``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from asyncio import TimerHandle
from typing import Any, ClassVar

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from harborlite.errors import envelope_bytes
from harborlite.http.zero_copy import BLOB_PATH
from harborlite.settings import Settings

log = logging.getLogger("harborlite")

MAX_HEAD_BYTES = 64 * 1024  # a request line and headers larger than this are refused (431)
RETRY_AFTER_SECONDS = 5  # what a client over the connection limit is told to wait
OVER_LIMIT_HEAD_SECONDS = 5.0  # an over-limit connection that sends no head is closed sooner
WARN_EVERY_SECONDS = 10.0  # the over-limit warning, at most this often
LINGER_SECONDS = 2.0  # after a refusal, input is read and dropped this long before the close
LINGER_BYTES = 1024 * 1024  # ... or until this much more arrived
JOIN_BODY_BYTES = 64 * 1024  # first body bytes up to this size leave in one write with the head

_JSON = b"application/json; charset=utf-8"
_API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")


def _raw_answer(status: bytes, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer written straight to the socket (no request cycle exists)."""
    body = envelope_bytes(code, message)
    head = (
        b"HTTP/1.1 " + status + b"\r\n"
        b"content-type: " + _JSON + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n"
    )
    return head + body


async def over_capacity(scope: Scope, receive: Receive, send: Send) -> None:
    """The answer to every request of a connection opened over the connection limit."""
    message = (
        f"harborlite has too many open connections; try again in {RETRY_AFTER_SECONDS} seconds"
    )
    body = envelope_bytes("UNAVAILABLE", message)
    headers = [
        (b"content-type", _JSON),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        (b"connection", b"close"),
    ]
    path: str = scope.get("path", "")
    if path == "/v2" or path.startswith("/v2/"):
        headers.append(_API_VERSION)
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


class BudgetedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout, a head size limit and a connection
    limit (class attributes, set by :func:`protocol_for`)."""

    header_timeout: ClassVar[float] = 15.0
    max_connections: ClassVar[int] = 1024
    _last_warning: ClassVar[float] = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: TimerHandle | None = None
        self._head_bytes = 0  # bytes of the head under way (0: none started)
        self._lingering: TimerHandle | None = None  # set once a refusal was written
        self._dropped = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        over = len(self.connections) >= self.max_connections
        super().connection_made(transport)
        timeout = self.header_timeout
        if over:
            self.app = over_capacity  # this connection's requests get the 503
            timeout = min(timeout, OVER_LIMIT_HEAD_SECONDS)
            now = time.monotonic()
            if now - BudgetedProtocol._last_warning > WARN_EVERY_SECONDS:
                BudgetedProtocol._last_warning = now
                log.warning(
                    "%d connections open, the limit (HARBORLITE_MAX_CONNECTIONS) is %d: "
                    "new connections are answered 503",
                    len(self.connections),
                    self.max_connections,
                )
        self._arm_head_timer(timeout)

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:  # refused: what still comes is read and dropped
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self._end_linger()
            return
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.pipeline:  # these bytes are (part of) a request head
            if self._head_timer is None:
                self._arm_head_timer(self.header_timeout)
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._head_timer is not None  # the head is still incomplete
            and self._head_bytes > MAX_HEAD_BYTES
            and not self.transport.is_closing()
        ):
            self._close_with(
                b"431 Request Header Fields Too Large",
                f"the request head is larger than {MAX_HEAD_BYTES} bytes",
            )

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        self._head_bytes = 0
        super().on_headers_complete()
        scope = self.scope
        if scope["method"] != "HEAD" and BLOB_PATH not in scope["path"]:
            # a HEAD has no body to join; a blob download may hand the socket to sendfile(2)
            self.cycle.transport = HeadWithBody(self.transport)  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)

    def _arm_head_timer(self, seconds: float) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(seconds, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes:
            self._close_with(
                b"408 Request Timeout",
                f"the request head did not arrive within {self.header_timeout:g} seconds",
            )
        else:  # nothing was asked: nobody to answer
            self.transport.close()

    def _close_with(self, status: bytes, message: str) -> None:
        self._disarm_head_timer()
        self._unset_keepalive_if_required()
        code = "REQUEST_TIMEOUT" if status.startswith(b"408") else "BAD_REQUEST"
        self.transport.write(_raw_answer(status, code, message))
        # A lingering close: closing with unread input makes the kernel send a RST, which can
        # destroy the answer before the client reads it. So the write side is shut (FIN after
        # the answer), and input is read and dropped for a moment before the close.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._lingering = self.loop.call_later(LINGER_SECONDS, self._end_linger)

    def _end_linger(self) -> None:
        if self._lingering is not None:
            self._lingering.cancel()
        self.transport.close()


class HeadWithBody:
    """The transport uvicorn's request cycle writes to, holding the response head (status
    line and headers) until the first body bytes, so the two leave in one ``write``: one
    segment and one wakeup of the client, where uvicorn would write twice. A manifest GET
    answered from memory is a few hundred bytes of head and body.

    Anything else asked of the transport (close, ``write_eof``, ``get_extra_info``...) first
    writes what is held, so nothing is reordered or lost. An interim answer (``100
    Continue``) is never held: the client waits for it before it sends the request body."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= JOIN_BODY_BYTES:
                self._transport.write(held + data)
                return
            self._transport.write(held)  # a large body is not copied to join it
            self._transport.write(data)
        elif data.startswith(b"HTTP/1.1 ") and data[9:10] != b"1":
            self._held = data
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._transport.write(held)

    def __getattr__(self, name: str) -> Any:
        self.flush()
        return getattr(self._transport, name)


def protocol_for(settings: Settings) -> type[BudgetedProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)``, with the settings' limits."""

    class Configured(BudgetedProtocol):
        header_timeout = float(settings.header_timeout_seconds)
        max_connections = settings.max_connections

    return Configured
