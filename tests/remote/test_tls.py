"""TLS towards an endpoint: verified against the system CAs by default, against the endpoint's
own CA certificate when it has one, not at all when it is ``insecure``. The server is a real
HTTPS server (a thread) with a certificate from harborlite's own CA code."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harborlite.remote.client import RemoteRegistry
from harborlite.remote.errors import RemoteError
from harborlite.tls.authority import TlsFiles, create_authority
from tests.remote.common import endpoint


class _Registry(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/v2/" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(URL, CA PEM) of an HTTPS server on 127.0.0.1."""
    files = TlsFiles(tmp_path_factory.mktemp("tls") / "tls")
    create_authority(files, ["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.server_cert, files.server_key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", files.ca_cert.read_text()
    finally:
        server.shutdown()
        server.server_close()


async def test_unknown_ca_is_refused(https: tuple[str, str]) -> None:
    url, _ = https
    async with RemoteRegistry(endpoint(url)) as client:
        with pytest.raises(RemoteError) as caught:
            await client.ping()
    assert "certificate" in str(caught.value).lower()


async def test_the_endpoint_ca_is_trusted(https: tuple[str, str]) -> None:
    url, ca = https
    async with RemoteRegistry(endpoint(url, ca_pem=ca)) as client:
        await client.ping()


async def test_insecure_skips_verification(https: tuple[str, str]) -> None:
    url, _ = https
    async with RemoteRegistry(endpoint(url, insecure=True)) as client:
        await client.ping()


async def test_another_ca_is_not_enough(https: tuple[str, str], tmp_path: Path) -> None:
    other = TlsFiles(tmp_path / "other")
    create_authority(other, ["127.0.0.1"])
    url, _ = https
    async with RemoteRegistry(endpoint(url, ca_pem=other.ca_cert.read_text())) as client:
        with pytest.raises(RemoteError):
            await client.ping()
