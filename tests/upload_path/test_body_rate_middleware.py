"""The minimum body rate on the upload path, as ASGI: a body that keeps coming reaches the app
whole and in order (the meter waits on the client without a task per chunk), one that stalls
is cut with a 408 in the envelope, and the app hears a disconnect."""

from __future__ import annotations

import asyncio
import json

from starlette.types import Message, Receive, Scope, Send

from harborlite.http.body_rate import BodyRateMiddleware

WINDOW = 0.2  # seconds
RATE = 1000  # bytes per second


def _scope(length: int) -> Scope:
    return {
        "type": "http",
        "method": "PATCH",
        "path": "/v2/p/app/blobs/uploads/u",
        "headers": [(b"content-length", str(length).encode())],
    }


class Client:
    """The server side of one connection: body messages in, answer messages out."""

    def __init__(self, chunks: list[bytes], stall_after: int | None = None) -> None:
        self.chunks = chunks
        self.stall_after = stall_after  # after this many chunks, nothing more ever comes
        self.given = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.stall_after is not None and self.given >= self.stall_after:
            await asyncio.Event().wait()  # a client that went silent
        await asyncio.sleep(0)  # before taking the chunk: a cancelled wait loses nothing
        chunk = self.chunks[self.given]
        self.given += 1
        return {"type": "http.request", "body": chunk, "more_body": self.given < len(self.chunks)}

    async def send(self, message: Message) -> None:
        self.sent.append(message)


class Reader:
    """An app that reads its whole body, then answers 202."""

    def __init__(self) -> None:
        self.body = b""
        self.disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                return
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _run(client: Client, app: Reader, length: int) -> None:
    middleware = BodyRateMiddleware(app, min_rate=RATE, window=WINDOW)
    asyncio.run(asyncio.wait_for(middleware(_scope(length), client.receive, client.send), 10))


def test_a_body_that_keeps_coming_reaches_the_app_whole_and_in_order() -> None:
    chunks = [bytes([n % 256]) * 4096 for n in range(2000)]
    client, app = Client(chunks), Reader()
    _run(client, app, sum(map(len, chunks)))
    assert app.body == b"".join(chunks)
    assert not app.disconnected
    assert client.sent[0]["status"] == 202


def test_a_body_that_stalls_is_cut_with_a_408_and_the_app_hears_a_disconnect() -> None:
    chunks = [b"x" * 100] * 10
    client, app = Client(chunks, stall_after=2), Reader()
    _run(client, app, 1000)
    assert app.disconnected
    assert [m["type"] for m in client.sent] == ["http.response.start", "http.response.body"]
    assert client.sent[0]["status"] == 408
    error = json.loads(client.sent[1]["body"])["errors"][0]
    assert error["code"] == "BLOB_UPLOAD_INVALID"
    assert "slower than 1000 bytes per second" in error["message"]
