"""The ``/v2/`` error envelope and the one function that builds a 401 challenge."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.types import Send

from harborlite.errors import envelope_bytes
from harborlite.settings import Settings

API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")


@dataclass(frozen=True)
class Refusal:
    """A ``/v2/`` request harborlite refuses before the registry sees it (a policy says no)."""

    status: int
    code: str
    message: str
    detail: Any = None


def challenge_header(settings: Settings, scope: str | None, error: str | None = None) -> bytes:
    value = f'Bearer realm="{settings.realm}",service="{settings.token_service}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return value.encode("latin-1")


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    detail: Any = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    head: bool = False,
) -> None:
    body = envelope_bytes(code, message, detail)  # byte for byte what the registry writes
    all_headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        API_VERSION,
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_unauthorized(
    send: Send,
    settings: Settings,
    scope: str | None,
    message: str = "authentication required",
    *,
    error: str | None = None,
    detail: Any = None,
    head: bool = False,
) -> None:
    await send_error(
        send,
        401,
        "UNAUTHORIZED",
        message,
        detail=detail,
        headers=[(b"www-authenticate", challenge_header(settings, scope, error))],
        head=head,
    )


async def send_json(send: Send, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    await send_json_bytes(send, json.dumps(body).encode(), headers)


async def send_json_bytes(send: Send, data: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """A 200 whose JSON body is already written (``data``)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(data)).encode()),
                API_VERSION,
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
