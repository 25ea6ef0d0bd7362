"""The registry's hot path skips Starlette: /v2/ goes straight to its app; nothing else does.
A file handle for sendfile(2) is offered only to blob paths; a request id is made when none
came."""

from __future__ import annotations

import re
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from harborlite.app import Dispatcher
from harborlite.http.request_id import RequestIdMiddleware
from harborlite.http.zero_copy import ZERO_COPY_KEY, ZeroCopyHook


class Recorder:
    def __init__(self, name: str, seen: list[tuple[str, str]]) -> None:
        self.name = name
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append((self.name, scope.get("path", scope["type"])))


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


async def _drop(message: Message) -> None:
    return None


async def test_v2_paths_go_straight_to_the_registry_app() -> None:
    seen: list[tuple[str, str]] = []
    main: Any = Recorder("main", seen)
    dispatcher = Dispatcher(
        main, Recorder("token", seen), Recorder("metrics", seen), Recorder("registry", seen)
    )
    for path in (
        "/v2/",
        "/v2/p/r/manifests/latest",
        "/v2",
        "/v2x/",
        "/api/v2.0/projects",
        "/service/token",
        "/metrics",
        "/",
    ):
        await dispatcher({"type": "http", "path": path, "headers": []}, _nothing, _drop)
    await dispatcher({"type": "lifespan"}, _nothing, _drop)
    assert seen == [
        ("registry", "/v2/"),
        ("registry", "/v2/p/r/manifests/latest"),
        ("main", "/v2"),  # Mount("/v2") never took it: the portal's
        ("main", "/v2x/"),
        ("main", "/api/v2.0/projects"),
        ("token", "/service/token"),
        ("metrics", "/metrics"),
        ("main", "/"),
        ("main", "lifespan"),
    ]


async def test_without_a_registry_app_v2_goes_to_starlette() -> None:
    seen: list[tuple[str, str]] = []
    dispatcher = Dispatcher(Recorder("main", seen), Recorder("t", seen), Recorder("m", seen))  # type: ignore[arg-type]
    await dispatcher({"type": "http", "path": "/v2/", "headers": []}, _nothing, _drop)
    assert seen == [("main", "/v2/")]


class FakeTransport:
    def get_extra_info(self, name: str) -> Any:
        return None


class FakeCycle:
    """What ZeroCopyHook looks for on uvicorn's request cycle."""

    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.expected_content_length = 0
        self.disconnected = False

    async def send(self, message: Message) -> None:
        return None


async def test_zero_copy_is_offered_to_blob_paths_only() -> None:
    offered: dict[str, bool] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        offered[scope["path"]] = ZERO_COPY_KEY in scope

    hook = ZeroCopyHook(app, workers=1)
    for path in ("/v2/p/r/blobs/sha256:abc", "/v2/p/r/manifests/latest", "/api/v2.0/health"):
        scope = {"type": "http", "path": path, "http_version": "1.1", "headers": []}
        await hook(scope, _nothing, FakeCycle().send)
    hook.executor.shutdown()
    assert offered == {
        "/v2/p/r/blobs/sha256:abc": True,
        "/v2/p/r/manifests/latest": False,
        "/api/v2.0/health": False,
    }


async def test_a_request_id_is_made_and_echoed() -> None:
    got: list[bytes] = []
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        got.extend(v for k, v in scope["headers"] if k == b"x-request-id")
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def keep(message: Message) -> None:
        sent.append(message)

    await RequestIdMiddleware(app)({"type": "http", "path": "/v2/", "headers": []}, _nothing, keep)
    assert len(got) == 1 and re.fullmatch(rb"[0-9a-f]{32}", got[0])
    assert sent[0]["headers"] == [(b"x-request-id", got[0])]
