"""A real HTTP receiver for webhook tests: a server thread that records every request and
answers as its path says: ``/ok/...`` 200, ``/fail/...`` 500, ``/hang/...`` 200 only once
:attr:`Receiver.release` is set."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.polling import eventually


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.hanging = threading.Event()  # a /hang request arrived and waits

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [request for request in self.requests if request.path == path]

    def wait(self, path: str, count: int = 1, timeout: float = 30.0) -> list[Received]:
        return eventually(
            lambda: found if len(found := self.at(path)) >= count else None,
            f"{count} request(s) to {path}",
            timeout,
        )

    def of_type(self, path: str, kind: str, timeout: float = 30.0) -> Received:
        def found() -> Received | None:
            for request in self.at(path):
                body = request.json()
                if body.get("type") == kind:
                    return request
            return None

        return eventually(found, f"a {kind} request to {path}", timeout)


@contextmanager
def started_receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver = holder[0]
            with receiver.lock:
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            if self.path.startswith("/hang/"):
                receiver.hanging.set()
                receiver.release.wait(60)
            code = 500 if self.path.startswith("/fail/") else 200
            answer = b"receiver says no" if code == 500 else b"ok"
            self.send_response(code)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server)
    holder.append(receiver)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
