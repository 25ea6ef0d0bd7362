"""The minimum body rate, pure ASGI: a request body that trickles in is cut off.

A request body must deliver at least ``min_rate`` bytes per second, averaged over windows of
``window`` seconds. Only the time the app spends *waiting* for the client counts: while the
app is not reading (the registry takes a chunk slowly, back-pressure) the client is not to
blame, so a fast client is never cut, however slow what is behind harborlite.

A body that falls short is cut: the app's ``receive`` says ``http.disconnect`` (the upload to
the registry is aborted as for a client that left), whatever the app answers after that is
dropped, and the client gets ``408`` in the ``{"errors": [...]}`` envelope with
``Connection: close``. A request without a body, and a body once complete, pass untouched.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harborlite.errors import envelope_bytes

log = logging.getLogger("harborlite.access")

_DISCONNECT: Message = {"type": "http.disconnect"}


def has_body(scope: Scope) -> bool:
    for key, value in scope["headers"]:
        if key == b"content-length":
            return value.strip() not in (b"0", b"")
        if key == b"transfer-encoding":
            return True
    return False


class BodyMeter:
    """Bytes against waiting time, window after window."""

    def __init__(self, min_rate: int, window: float) -> None:
        self.window = window
        self.needed = min_rate * window  # bytes each window must bring
        self.waited = 0.0  # seconds waited in this window
        self.got = 0  # bytes received in this window

    def remaining(self) -> float:
        """Seconds of waiting left in this window."""
        return max(self.window - self.waited, 0.0)

    def record(self, waited: float, size: int) -> bool:
        """``size`` bytes came after ``waited`` seconds; False when the window closed short."""
        self.waited += waited
        self.got += size
        if self.waited < self.window:
            return True
        if self.got < self.needed:
            return False
        self.waited, self.got = 0.0, 0
        return True


def _code_for(path: str) -> str:
    if path.startswith("/v2/"):
        return "MANIFEST_INVALID" if "/manifests/" in path else "BLOB_UPLOAD_INVALID"
    return "BAD_REQUEST"


class BodyRateMiddleware:
    """Cuts off request bodies slower than ``min_rate`` bytes/s over ``window`` seconds
    (``min_rate`` 0: off)."""

    def __init__(self, app: ASGIApp, min_rate: int, window: float) -> None:
        self.app = app
        self.min_rate = min_rate
        self.window = window

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.min_rate <= 0 or not has_body(scope):
            await self.app(scope, receive, send)
            return
        meter = BodyMeter(self.min_rate, self.window)
        loop = asyncio.get_running_loop()
        complete = False  # the whole body is in: nothing more to measure
        cut = False
        started = False
        received = 0

        async def metered_receive() -> Message:
            nonlocal complete, cut, received
            if cut:
                return _DISCONNECT
            if complete:
                return await receive()
            while True:
                remaining = meter.remaining()
                began = loop.time()
                try:
                    # asyncio.timeout, not wait_for: wait_for starts a task per call, once per
                    # body chunk of every upload (a 1 GiB push is thousands of chunks)
                    async with asyncio.timeout(remaining):
                        message = await receive()
                except TimeoutError:
                    if meter.record(remaining, 0):
                        continue  # the last window was good: a new one starts
                    cut = True
                    return _DISCONNECT
                size = len(message.get("body", b""))
                received += size
                if not meter.record(loop.time() - began, size):
                    cut = True
                    return _DISCONNECT
                if message["type"] != "http.request" or not message.get("more_body", False):
                    complete = True
                return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if cut:
                return  # the app answers a client that was cut off: the 408 replaces it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, metered_receive, guarded_send)
        if cut:
            log.warning(
                "%s %s cut off: its body brought %d bytes, slower than %d bytes/s over %g s",
                scope["method"],
                scope["path"],
                received,
                self.min_rate,
                self.window,
            )
            if not started:
                await self._too_slow(scope, send)

    async def _too_slow(self, scope: Scope, send: Send) -> None:
        message = (
            f"the request body came slower than {self.min_rate} bytes per second "
            f"over {self.window:g} seconds and was cut off"
        )
        body = envelope_bytes(_code_for(scope["path"]), message)
        headers = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        if scope["path"].startswith("/v2/"):
            headers.append((b"docker-distribution-api-version", b"registry/2.0"))
        await send({"type": "http.response.start", "status": 408, "headers": headers})
        await send({"type": "http.response.body", "body": body})
