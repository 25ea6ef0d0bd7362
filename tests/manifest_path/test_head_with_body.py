"""A response's head leaves with its first body bytes, in one write: on a real uvicorn server
with harborlite's protocol and a raw socket client. The app below waits between the head and
the body, so the client's first read shows whether the head was held for the body (one write)
or went out alone. A HEAD, a blob download (which may go by sendfile(2)) and an interim
``100 Continue`` are never held; a large body is not copied to be joined."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from harborlite.http.connections import JOIN_BODY_BYTES, BudgetedProtocol

PAUSE = 0.3  # between the head and the body
BIG = JOIN_BODY_BYTES + 1000


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    if scope["method"] == "PUT":  # reads its body first: a client may wait for 100 Continue
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
    elif scope["path"] == "/big":
        body = b"b" * BIG
    else:
        body = b"hello"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    if scope["path"] == "/fails":
        await asyncio.sleep(PAUSE)
        raise RuntimeError("the app fails after its head")
    await asyncio.sleep(PAUSE)
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()  # connections wait in the backlog until the server accepts them
    config = uvicorn.Config(app, http=BudgetedProtocol, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listening]))
    yield listening.getsockname()[1]
    server.should_exit = True
    await task
    listening.close()


@contextlib.asynccontextmanager
async def _connected(
    port: int,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw connection to the server, closed after."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def _first_read(port: int, request: bytes) -> tuple[bytes, float]:
    """What the first read after the request brings, and how long it took."""
    async with _connected(port) as (reader, writer):
        loop = asyncio.get_running_loop()
        started = loop.time()
        writer.write(request)
        first = await reader.read(1 << 20)
        return first, loop.time() - started


def _get(method: str, path: str) -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


async def test_a_get_answer_leaves_in_one_write(port: int) -> None:
    first, waited = await _first_read(port, _get("GET", "/v2/p/r/manifests/latest"))
    assert first.startswith(b"HTTP/1.1 200 ")
    assert first.endswith(b"\r\n\r\nhello")  # the head waited for its body
    assert waited >= PAUSE * 0.9


async def test_a_head_answer_is_not_held(port: int) -> None:
    first, waited = await _first_read(port, _get("HEAD", "/v2/p/r/manifests/latest"))
    assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b"\r\n\r\n")
    assert waited < PAUSE


async def test_a_blob_download_head_is_not_held(port: int) -> None:
    first, waited = await _first_read(port, _get("GET", "/v2/p/r/blobs/sha256:" + "a" * 64))
    assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b"\r\n\r\n")
    assert waited < PAUSE


async def test_a_large_body_arrives_whole_after_its_head(port: int) -> None:
    async with _connected(port) as (reader, writer):
        writer.write(_get("GET", "/big"))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and f"{BIG}".encode() in head
        assert await reader.readexactly(BIG) == b"b" * BIG


async def test_100_continue_is_sent_at_once_and_the_answer_follows(port: int) -> None:
    async with _connected(port) as (reader, writer):
        writer.write(
            b"PUT /v2/p/r/manifests/latest HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"abcd")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert await reader.readexactly(4) == b"abcd"


async def test_keep_alive_answers_stay_in_order(port: int) -> None:
    async with _connected(port) as (reader, writer):
        for _ in range(3):
            writer.write(_get("GET", "/v2/p/r/manifests/latest"))
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            assert await reader.readexactly(5) == b"hello"


async def test_a_head_held_when_the_app_fails_still_reaches_the_client(port: int) -> None:
    async with _connected(port) as (reader, writer):
        writer.write(_get("GET", "/fails"))
        received = await asyncio.wait_for(reader.read(), timeout=5)  # to the close
        assert received.startswith(b"HTTP/1.1 200 ")  # written at the close, not lost
