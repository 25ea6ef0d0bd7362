"""More connections than HARBORLITE_MAX_CONNECTIONS: the next ones are answered 503 with
Retry-After in the errors envelope and closed, and service resumes once connections close."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.attacks.sockets import close, connect
from tests.harness import Harborlite, cleanup, start_harborlite

LIMIT = 16  # the smallest the setting takes


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    started = start_harborlite(
        extra_env={
            "HARBORLITE_MAX_CONNECTIONS": str(LIMIT),
            "HARBORLITE_HEADER_TIMEOUT_SECONDS": "60",  # the holders are not closed meanwhile
        }
    )
    yield started
    cleanup(started)


async def _over_the_limit(server: Harborlite) -> None:
    holders = [await connect(server) for _ in range(LIMIT)]
    for _, writer in holders:
        writer.write(b"GET /v2/ HTTP/1.1\r\nHost: harborlite\r\n")  # and never the end
        await writer.drain()
    await asyncio.sleep(0.3)  # the server has them all
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            for path in ("/api/v2.0/health", "/v2/"):
                refused = await client.get(path)
                assert refused.status_code == 503, refused.text
                assert int(refused.headers["Retry-After"]) > 0
                assert refused.headers["Connection"] == "close"
                errors = refused.json()["errors"]
                assert errors[0]["code"] == "UNAVAILABLE"
                assert "too many open connections" in errors[0]["message"]
            v2 = await client.get("/v2/")
            assert v2.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    finally:
        for _, writer in holders:
            close(writer)
    deadline = time.monotonic() + 10
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        while True:  # the holders' closes reach the server
            status = (await client.get("/api/v2.0/health")).status_code
            if status == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    assert status == 200


def test_connections_over_the_limit_get_503_with_retry_after(server: Harborlite) -> None:
    asyncio.run(_over_the_limit(server))
    assert "new connections are answered 503" in server.log_path.read_text()
