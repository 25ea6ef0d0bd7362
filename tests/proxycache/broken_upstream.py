"""A small upstream registry in a thread: serves the manifests and blobs a test gives it, and
can cut a blob's stream half way (its Content-Length promised, half the bytes sent)."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class BrokenUpstream:
    def __init__(self) -> None:
        self.manifests: dict[str, tuple[bytes, str]] = {}  # "repo:ref" -> (body, media type)
        self.blobs: dict[str, bytes] = {}
        self.broken: set[str] = set()  # digests whose stream is cut
        self.corrupt: set[str] = set()  # digests answered with other bytes of the same length
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/v2/":
                    self._send(200, b"{}", {"Content-Type": "application/json"})
                    return
                if "/manifests/" in path:
                    repo, ref = path[4:].split("/manifests/")
                    found = upstream.manifests.get(f"{repo}:{ref}")
                    if found is None:
                        self._send(404, b'{"errors":[]}', {"Content-Type": "application/json"})
                        return
                    body, media_type = found
                    digest = "sha256:" + hashlib.sha256(body).hexdigest()
                    self._send(
                        200, body, {"Content-Type": media_type, "Docker-Content-Digest": digest}
                    )
                    return
                if "/blobs/" in path:
                    digest = path.rsplit("/", 1)[1]
                    data = upstream.blobs.get(digest)
                    if data is None:
                        self._send(404, b'{"errors":[]}', {"Content-Type": "application/json"})
                        return
                    if digest in upstream.broken and self.command == "GET":
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.send_header("Content-Type", "application/octet-stream")
                        self.end_headers()
                        self.wfile.write(data[: len(data) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if digest in upstream.corrupt:
                        data = bytes(len(data))
                    self._send(200, data, {"Content-Type": "application/octet-stream"})
                    return
                self._send(404, b"", {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
