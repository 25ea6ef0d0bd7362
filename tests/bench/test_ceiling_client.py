"""bench/ceiling.c, the blob GET matrix's client and its ceiling: what it counts and refuses.

A figure from it is only worth something if it read exactly the blob: every reader must get a
200 with a Content-Length of the expected size and that many bytes, or the run fails. The
servers here are real HTTP servers on loopback threads; no timing is asserted.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BODY = bytes(range(256)) * 4096 * 3  # 3 MiB: more than the client's 1 MiB buffer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        seen = self.server.seen  # type: ignore[attr-defined]
        seen.append((self.path, self.headers.get("Authorization")))
        if self.path == "/ok":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path == "/missing":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/short":  # declares the size, sends less, closes
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:1000])
            self.close_connection = True
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"3\r\nabc\r\n0\r\n\r\n")
        elif self.path == "/small":  # a whole, valid body of another size
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"0123456789")


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ceiling") / "ceiling"
    subprocess.run(
        ["cc", "-O2", "-Wall", "-Werror", "-o", str(out), str(ROOT / "bench" / "ceiling.c")],
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def get(
    binary: Path, server: ThreadingHTTPServer, path: str, readers: int, size: int
) -> subprocess.CompletedProcess[str]:
    port = server.server_address[1]
    argv = [str(binary), "get", "127.0.0.1", str(port), path, "Bearer t0k", str(readers)]
    return subprocess.run([*argv, str(size)], capture_output=True, text=True, timeout=60)


def test_get_counts_every_reader_bytes_and_sends_the_authorization(
    binary: Path, server: ThreadingHTTPServer
) -> None:
    result = get(binary, server, "/ok", 4, len(BODY))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["readers"] == 4
    assert answer["bytes"] == 4 * len(BODY)
    assert answer["seconds"] > 0 and answer["mbps"] > 0
    assert server.seen[-4:] == [("/ok", "Bearer t0k")] * 4  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing", "answer HTTP/1.1 404"),
        ("/short", "body of 1000 bytes"),
        ("/chunked", "Transfer-Encoding"),
        ("/small", "Content-Length 10, expected"),
    ],
)
def test_get_refuses_anything_but_the_whole_blob(
    binary: Path, server: ThreadingHTTPServer, path: str, message: str
) -> None:
    result = get(binary, server, path, 2, len(BODY))
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""  # no figure


def test_get_refuses_a_server_that_is_not_there(binary: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connect is refused
        argv = [str(binary), "get", "127.0.0.1", str(port), "/", "x", "1", "1"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "connect" in result.stderr


def test_sendfile_serves_the_whole_file_to_each_reader(binary: Path, tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(BODY + b"tail")
    for readers in (1, 8):
        result = subprocess.run(
            [str(binary), "sendfile", str(blob), str(readers)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["readers"] == readers
        assert answer["bytes"] == readers * (len(BODY) + 4)


@pytest.mark.parametrize("argv", [[], ["sendfile", "f"], ["sendfile", "f", "0"], ["get", "x"]])
def test_bad_arguments_are_refused(binary: Path, argv: list[str]) -> None:
    result = subprocess.run([str(binary), *argv], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "READERS" in result.stderr or "usage" in result.stderr


def test_sendfile_of_a_missing_file_fails(binary: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(binary), "sendfile", str(tmp_path / "nothing"), "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stdout == ""
