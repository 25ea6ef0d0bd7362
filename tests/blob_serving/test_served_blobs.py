"""Blob downloads from storage through a real ``harborlite serve``: a big blob arrives whole to
a slow reader, the connection serves its next request afterwards, harborlite keeps answering
while a client sits on a download, and a client that leaves mid-body costs nothing after."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest

from tests.api.pushing import Pusher, digest_of
from tests.e2e.test_fast_path import access_line
from tests.harness import Harborlite

SIZE = 32 * 1024 * 1024


@dataclass(frozen=True)
class Served:
    repository: str
    digest: str
    sha256: str
    headers: dict[str, str]


@pytest.fixture(scope="module")
def served(harborlite_sqlite: Harborlite) -> Served:
    server = harborlite_sqlite
    project = server.unique("blobserve")
    server.create_project(project, public=False)
    repository = f"{project}/big"
    data = os.urandom(SIZE)
    token = server.token(f"repository:{repository}:pull,push", server.admin)
    headers = {"Authorization": f"Bearer {token}"}
    with Pusher(server) as pusher:
        digest = pusher.blob(repository, data, headers)
    assert digest == digest_of(data)
    return Served(repository, digest, hashlib.sha256(data).hexdigest(), headers)


def test_a_big_blob_arrives_whole_to_a_slow_reader_and_the_connection_goes_on(
    harborlite_sqlite: Harborlite, served: Served
) -> None:
    server = harborlite_sqlite
    path = f"/v2/{served.repository}/blobs/{served.digest}"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(2):  # twice on one keep-alive connection
            rid = uuid.uuid4().hex
            digest = hashlib.sha256()
            with client.stream("GET", path, headers={**served.headers, "X-Request-Id": rid}) as r:
                assert r.status_code == 200
                assert r.headers["content-length"] == str(SIZE)
                assert r.headers["docker-content-digest"] == served.digest
                for n, chunk in enumerate(r.iter_raw(64 * 1024)):
                    digest.update(chunk)
                    if n % 64 == 0:
                        time.sleep(0.01)  # a reader that hashes and writes
            assert digest.hexdigest() == served.sha256
            line = access_line(server, rid)
            assert "via=storage" in line and " 200 " in line
        # and the same connection answers an ordinary request after the bodies
        head = client.head(path, headers=served.headers)
        assert head.status_code == 200 and head.headers["content-length"] == str(SIZE)
        part = client.get(path, headers={**served.headers, "Range": "bytes=5-9"})
        assert part.status_code == 206 and len(part.content) == 5


def raw_get(server: Harborlite, path: str, headers: dict[str, str]) -> socket.socket:
    """A blob GET on a plain socket whose body is left unread."""
    host, port = server.host.split(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    lines = [f"GET {path} HTTP/1.1", f"Host: {server.host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


def test_harborlite_answers_while_a_client_sits_on_a_download(
    harborlite_sqlite: Harborlite, served: Served
) -> None:
    server = harborlite_sqlite
    path = f"/v2/{served.repository}/blobs/{served.digest}"
    stalled = raw_get(server, path, served.headers)
    try:
        time.sleep(0.5)  # the answer starts and fills the socket buffers
        # the body is going out to a client that reads nothing more: others are served
        for _ in range(3):
            answer = httpx.head(server.url + path, headers=served.headers, timeout=10)
            assert answer.status_code == 200
        # and the client that sat still may still take the whole answer
        stalled.settimeout(30)
        received = bytearray()
        while b"\r\n\r\n" not in received:
            received += stalled.recv(65536)
        head, _, body = bytes(received).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        digest, got = hashlib.sha256(body), len(body)
        while got < SIZE:
            chunk = stalled.recv(1024 * 1024)
            assert chunk, "the download was cut"
            digest.update(chunk)
            got += len(chunk)
        assert got == SIZE and digest.hexdigest() == served.sha256
    finally:
        stalled.close()


def test_a_client_that_leaves_mid_body_costs_nothing_after(
    harborlite_sqlite: Harborlite, served: Served
) -> None:
    server = harborlite_sqlite
    path = f"/v2/{served.repository}/blobs/{served.digest}"
    for _ in range(3):
        gone = raw_get(server, path, served.headers)
        assert gone.recv(12).startswith(b"HTTP/1.1 200")
        gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        gone.close()  # a reset with most of the body unsent
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answer = client.get(path, headers=served.headers)
        assert answer.status_code == 200
        assert hashlib.sha256(answer.content).hexdigest() == served.sha256
