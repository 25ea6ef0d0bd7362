"""Slow uploads: an upload opened quickly, then a PATCH whose body trickles in."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from tests.attacks.sockets import Answer, close, connect, read_answer
from tests.harness import Harborlite

DECLARED = 100_000  # the PATCH body each slow upload announces (and never sends)


@dataclass
class SlowUpload:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def answer(self, timeout: float) -> Answer:
        return await read_answer(self.reader, timeout)

    def drip(self) -> None:
        if not self.writer.is_closing():
            self.writer.write(b"x")

    def close(self) -> None:
        close(self.writer)


async def open_uploads(
    server: Harborlite, repository: str, token: str, count: int, source: str
) -> list[str]:
    """``count`` uploads started in ``repository`` from ``source``: their paths."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    headers = {"Authorization": f"Bearer {token}"}
    paths = []
    async with httpx.AsyncClient(base_url=server.url, transport=transport, timeout=30) as client:
        for _ in range(count):
            started = await client.post(f"/v2/{repository}/blobs/uploads/", headers=headers)
            assert started.status_code == 202, started.text
            location = started.headers["Location"]
            paths.append(location[location.index("/v2/") :])
    return paths


async def slow_patch(server: Harborlite, path: str, token: str, source: str) -> SlowUpload:
    """A PATCH of ``path`` announcing DECLARED bytes, of which it sends one."""
    reader, writer = await connect(server, source)
    writer.write(
        f"PATCH {path} HTTP/1.1\r\nHost: {server.host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {DECLARED}\r\n\r\nx".encode()
    )
    await writer.drain()
    return SlowUpload(reader, writer)
