"""Request bodies on their way to the registry: read whole up to a limit, or streamed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from starlette.types import Message

from harborlite.v2.forward import BodyTooLarge, ClientGone, read_limited, stream_request


def client_sending(*messages: Message) -> Callable[[], Awaitable[Message]]:
    """An ASGI ``receive`` giving these messages, in order."""
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0)

    return receive


def body(data: bytes, more: bool = False) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


async def test_a_body_in_chunks_is_read_whole_up_to_its_limit() -> None:
    chunks = client_sending(body(b"ab", more=True), body(b"", more=True), body(b"cd"))
    assert await read_limited(chunks, 4) == b"abcd"
    assert await read_limited(client_sending(body(b"")), 4) == b""


async def test_a_body_past_its_limit_is_refused_after_it_was_all_read() -> None:
    receive = client_sending(body(b"abc", more=True), body(b"de", more=True), body(b"f"))
    with pytest.raises(BodyTooLarge):
        await read_limited(receive, 4)
    # every message was taken: the connection can carry the refusal
    with pytest.raises(IndexError):
        await receive()


async def test_a_client_that_leaves_mid_body() -> None:
    with pytest.raises(ClientGone):
        await read_limited(client_sending(body(b"ab", more=True), {"type": "http.disconnect"}), 9)
    streamed = stream_request(client_sending(body(b"ab", more=True), {"type": "http.disconnect"}))
    assert await anext(streamed) == b"ab"
    with pytest.raises(ClientGone):
        await anext(streamed)
