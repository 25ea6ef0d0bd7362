"""A Docker Hub stand-in: a real process, in front of a real ``docker-registry``, that speaks
Docker Hub's token flow.

What it does, as ``registry-1.docker.io`` and ``auth.docker.io`` do:

- ``/v2/...`` without a valid bearer token: ``401`` with
  ``WWW-Authenticate: Bearer realm="<url>/token",service="registry.docker.io",``
  ``scope="repository:<name>:pull"``
  (``pull,push`` for writes, ``delete`` for deletes; no scope for ``/v2/`` itself);
- ``GET /token?service=registry.docker.io&scope=...``: a token for the scopes asked, with
  ``expires_in`` 300; anonymous callers get ``pull`` (as on Hub), and with ``user``/``password``
  set, wrong Basic credentials get ``401`` and only that user gets ``push`` and ``delete``;
- a valid token is checked against the request (repository and action) and the request is then
  streamed to the registry behind it, ``Location`` headers rewritten to the stand-in.

What tests steer (over ``/_standin/...`` on the same port, or the Python methods below):
``throttle(n, retry_after)`` makes the next ``n`` ``/v2/`` requests answer ``429`` with
``Retry-After`` (``path_contains`` narrows which); ``counts()`` gives the requests served per
``"METHOD /path"`` (token requests under ``"GET /token"``; ``429`` answers counted too), so a
proxy-cache test can assert an image was fetched from upstream once; ``reset()`` clears both.

Usage::

    hub = HubStandin.start(tmp_path)          # its own docker-registry and port
    hub.url                                    # http://127.0.0.1:PORT (the endpoint URL)
    hub.registry_url                           # the registry behind it, for seeding (no auth)
    hub.throttle(2, retry_after=7)
    hub.count("GET", "/v2/library/nginx/manifests/1.25")
    hub.stop()

``HubStandin.start(workdir, user="u", password="p")`` requires that user for writes.
The server itself runs as ``python -m tests.remote.hub_standin --registry URL --port P``.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

SERVICE = "registry.docker.io"
TOKEN_SECONDS = 300
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)(?:/|$)")
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "authorization"}


# -- the server (runs in its own process) ----------------------------------------------------


@dataclass
class _State:
    backend: str
    user: str | None
    password: str | None
    tokens: dict[str, tuple[set[tuple[str, str]], float]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    throttle_left: int = 0
    throttle_retry_after: float = 1.0
    throttle_contains: str = ""


def _scopes(values: list[str]) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for value in values:
        for one in value.split():
            parts = one.split(":")
            if len(parts) >= 3 and parts[0] == "repository":
                found.append((":".join(parts[1:-1]), parts[-1].split(",")))
    return found


def _basic(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


async def _token(request: web.Request) -> web.Response:
    state: _State = request.app["state"]
    state.counts["GET /token"] += 1
    credentials = _basic(request)
    known = False
    if credentials is not None:
        if state.user is None or credentials != (state.user, state.password):
            return web.json_response({"details": "incorrect username or password"}, status=401)
        known = True
    granted: set[tuple[str, str]] = set()
    for name, actions in _scopes(request.query.getall("scope", [])):
        for action in actions:
            if action == "pull" or known or state.user is None:
                granted.add((name, action))
    token = secrets.token_urlsafe(24)
    state.tokens[token] = (granted, time.monotonic() + TOKEN_SECONDS)
    issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = {"token": token, "access_token": token, "expires_in": TOKEN_SECONDS, "issued_at": issued}
    return web.json_response(body)


def _needed(method: str) -> str:
    if method in ("GET", "HEAD"):
        return "pull"
    if method == "DELETE":
        return "delete"
    return "push"


def _challenge(request: web.Request, scope: str | None) -> web.Response:
    realm = f"http://{request.host}/token"
    value = f'Bearer realm="{realm}",service="{SERVICE}"'
    if scope:
        value += f',scope="{scope}"'
    body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
    return web.json_response(body, status=401, headers={"WWW-Authenticate": value})


async def _registry(request: web.Request) -> web.StreamResponse:
    state: _State = request.app["state"]
    state.counts[f"{request.method} {request.path}"] += 1
    if state.throttle_left > 0 and state.throttle_contains in request.path:
        state.throttle_left -= 1
        limit = "You have reached your pull rate limit."
        body = {"errors": [{"code": "TOOMANYREQUESTS", "message": limit}]}
        retry = f"{state.throttle_retry_after:g}"
        return web.json_response(body, status=429, headers={"Retry-After": retry})
    match = _REPO_PATH.match(request.path)
    action = _needed(request.method)
    scope = None
    if match is not None:
        actions = "pull,push" if action == "push" else action
        scope = f"repository:{match['name']}:{actions}"
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else ""
    grant = state.tokens.get(token)
    if grant is None or grant[1] < time.monotonic():
        return _challenge(request, scope)
    if match is not None and (match["name"], action) not in grant[0]:
        if action != "pull" or (match["name"], "push") not in grant[0]:
            return _challenge(request, scope)
    if request.path.startswith("/v2/_catalog"):
        return _challenge(request, "registry:catalog:*")  # Hub has no catalog
    return await _forward(request, state)


async def _forward(request: web.Request, state: _State) -> web.StreamResponse:
    session: aiohttp.ClientSession = request.app["session"]
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
    data = request.content if request.body_exists else None
    async with session.request(
        request.method,
        state.backend + request.path_qs,
        headers=headers,
        data=data,
        allow_redirects=False,
    ) as upstream:
        answer = web.StreamResponse(status=upstream.status)
        for key, value in upstream.headers.items():
            if key.lower() in _HOP or key.lower() == "content-length":
                continue
            if key.lower() == "location":
                value = value.replace(state.backend, f"http://{request.host}")
            answer.headers.add(key, value)
        if upstream.content_length is not None:
            answer.content_length = upstream.content_length
        await answer.prepare(request)
        if request.method != "HEAD":
            async for chunk in upstream.content.iter_chunked(256 * 1024):
                await answer.write(chunk)
        await answer.write_eof()
        return answer


async def _control(request: web.Request) -> web.Response:
    state: _State = request.app["state"]
    what = request.match_info["what"]
    if what == "counts":
        return web.json_response(dict(state.counts))
    if what == "reset":
        state.counts.clear()
        state.throttle_left = 0
        return web.json_response({})
    if what == "throttle":
        body = await request.json()
        state.throttle_left = int(body.get("count", 1))
        state.throttle_retry_after = float(body.get("retry_after", 1))
        state.throttle_contains = str(body.get("path_contains", ""))
        return web.json_response({})
    return web.json_response({}, status=404)


async def _open(app: web.Application) -> None:
    app["session"] = aiohttp.ClientSession(auto_decompress=False)


async def _close(app: web.Application) -> None:
    await app["session"].close()


def build_app(backend: str, user: str | None, password: str | None) -> web.Application:
    app = web.Application(client_max_size=1024**4)
    app["state"] = _State(backend.rstrip("/"), user, password)
    app.on_startup.append(_open)
    app.on_cleanup.append(_close)
    app.router.add_get("/token", _token)
    app.router.add_route("*", "/_standin/{what}", _control)
    app.router.add_route("*", "/v2/{tail:.*}", _registry)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registry", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user")
    parser.add_argument("--password")
    options = parser.parse_args()
    app = build_app(options.registry, options.user, options.password)
    web.run_app(app, host="127.0.0.1", port=options.port, print=None, access_log=None)


# -- the test side ---------------------------------------------------------------------------


class HubStandin:
    """A started stand-in (see the module's docstring); :meth:`stop` ends both processes."""

    def __init__(self, url: str, registry: Any, process: Any) -> None:
        self.url = url
        self.registry = registry
        self.registry_url: str = registry.url
        self.process = process

    @classmethod
    def start(
        cls, workdir: Path, *, user: str | None = None, password: str | None = None
    ) -> HubStandin:
        import sys

        from tests.harness import ROOT
        from tests.support.processes import ManagedProcess, RegistryServer, free_port

        workdir.mkdir(parents=True, exist_ok=True)
        registry = RegistryServer(workdir / "hub-registry")
        port = free_port()
        argv = [sys.executable, "-m", "tests.remote.hub_standin"]
        argv += ["--registry", registry.url, "--port", str(port)]
        if user is not None:
            argv += ["--user", user, "--password", password or ""]
        process = ManagedProcess("hub-standin", argv, workdir / "hub-standin.log", cwd=ROOT)
        standin = cls(f"http://127.0.0.1:{port}", registry, process)
        try:
            process.wait_until(standin._ready)
        except BaseException:
            registry.stop()
            raise
        return standin

    def _ready(self) -> bool:
        try:
            self.counts()
        except OSError:
            return False
        return True

    def _call(self, what: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/_standin/{what}", data=data)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = self._call("counts")
        return counts

    def count(self, method: str, path: str) -> int:
        return self.counts().get(f"{method} {path}", 0)

    def throttle(self, count: int, retry_after: float = 1.0, path_contains: str = "") -> None:
        body = {"count": count, "retry_after": retry_after, "path_contains": path_contains}
        self._call("throttle", body)

    def reset(self) -> None:
        self._call("reset", {})

    def stop(self) -> None:
        self.process.stop()
        self.registry.stop()


if __name__ == "__main__":
    main()
