"""Half-sent requests: connections that never finish their request head are closed after the
header timeout (408 when part of a head came), idle keep-alive connections after the idle
timeout, and a head too large is refused; other clients are served throughout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.attacks.sockets import close, connect, parse_answer, read_until_closed
from tests.harness import Harborlite, cleanup, start_harborlite

HEADER_TIMEOUT = 2
IDLE_TIMEOUT = 2
ATTACKERS = 300


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    started = start_harborlite(
        extra_env={
            "HARBORLITE_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "HARBORLITE_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT),
            "HARBORLITE_MAX_CONNECTIONS": "2000",
        }
    )
    yield started
    cleanup(started)


async def _served(server: Harborlite) -> int:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        return (await client.get("/api/v2.0/health")).status_code


async def _half_heads(server: Harborlite) -> None:
    connections = [await connect(server) for _ in range(ATTACKERS)]
    opened = time.monotonic()
    for number, (_, writer) in enumerate(connections):
        writer.write(b"GET /v2/ HTTP/1.1\r\nHost: harborlite\r\nX-Never-Ends: ")
        if number % 2:  # half of them keep sending a byte now and then: not idle, just slow
            writer.write(b"a")
    assert await _served(server) == 200  # meanwhile

    async def trickle() -> None:
        for _ in range(10):
            await asyncio.sleep(0.5)
            for number, (_, writer) in enumerate(connections):
                if number % 2 and not writer.is_closing():
                    writer.write(b"b")

    trickling = asyncio.create_task(trickle())
    try:
        answers = await asyncio.gather(
            *(read_until_closed(reader, HEADER_TIMEOUT + 8) for reader, _ in connections)
        )
    finally:
        trickling.cancel()
        for _, writer in connections:
            close(writer)
    assert time.monotonic() - opened < HEADER_TIMEOUT + 8
    for data in answers:  # every one had sent part of a head: each is told why it is closed
        answer = parse_answer(data)
        assert answer.status == 408, data
        assert answer.headers["connection"] == "close"
        assert answer.code == "REQUEST_TIMEOUT"
    assert await _served(server) == 200  # and after


def test_half_sent_heads_are_closed_after_the_header_timeout(server: Harborlite) -> None:
    asyncio.run(_half_heads(server))


async def _silent_and_idle(server: Harborlite) -> None:
    silent_reader, silent = await connect(server)  # opens, says nothing
    idle_reader, idle = await connect(server)  # one request, then keeps the connection
    idle.write(b"GET /api/v2.0/health HTTP/1.1\r\nHost: harborlite\r\n\r\n")
    try:
        assert await read_until_closed(silent_reader, HEADER_TIMEOUT + 5) == b""
        data = await read_until_closed(idle_reader, IDLE_TIMEOUT + 5)
        assert parse_answer(data).status == 200  # the answer, then the close
    finally:
        close(silent)
        close(idle)


def test_silent_and_idle_connections_are_closed(server: Harborlite) -> None:
    asyncio.run(_silent_and_idle(server))


async def _endless_head(server: Harborlite) -> None:
    reader, writer = await connect(server)
    try:
        writer.write(b"GET /v2/ HTTP/1.1\r\nHost: harborlite\r\n")
        for number in range(66):  # 66 headers of 1 KiB, and still no end
            writer.write(b"X-Pad-%d: " % number + b"p" * 1024 + b"\r\n")
        await writer.drain()
        data = await read_until_closed(reader, 5)
    finally:
        close(writer)
    answer = parse_answer(data)
    assert answer.status == 431, data
    assert answer.code == "BAD_REQUEST"


def test_a_head_too_large_is_refused(server: Harborlite) -> None:
    asyncio.run(_endless_head(server))
