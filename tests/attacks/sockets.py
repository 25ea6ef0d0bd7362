"""Raw-socket attackers: connections that send what they like, as slowly as they like."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from tests.harness import Harborlite


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str:
        return str(self.json()["errors"][0]["code"])


def address(server: Harborlite) -> tuple[str, int]:
    host, port = server.host.rsplit(":", 1)
    return host, int(port)


async def connect(
    server: Harborlite, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to ``server`` from the loopback address ``source`` (127.0.0.0/8 is all
    loopback on Linux: each address is another client for harborlite)."""
    host, port = address(server)
    return await asyncio.open_connection(host, port, local_addr=(source, 0))


async def read_until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection; TimeoutError if it keeps
    it open longer than ``timeout`` seconds."""
    data = b""
    async with asyncio.timeout(timeout):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk


def parse_answer(data: bytes) -> Answer:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    return Answer(status, headers, body[: int(length)] if length else body)


async def read_answer(reader: asyncio.StreamReader, timeout: float) -> Answer:
    """One whole answer (its head, and a body of Content-Length bytes)."""
    async with asyncio.timeout(timeout):
        head = await reader.readuntil(b"\r\n\r\n")
        answer = parse_answer(head)
        length = int(answer.headers.get("content-length", "0"))
        answer.body = await reader.readexactly(length) if length else b""
        return answer


def close(writer: asyncio.StreamWriter) -> None:
    if not writer.is_closing():
        writer.close()
