"""How a whole file goes to a client (harborlite.http.blob_body), on real loopback TCP
sockets: everything arrives to a fast reader (sendfile) and to a slow one (copies), copies are
bounded in number, and a client that takes nothing is dropped."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborlite.http import blob_body

SIZE = 96 * 1024 * 1024  # past JUDGED_AFTER (64 MiB): the pace is judged


@pytest.fixture(scope="module")
def blob(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("blob-body") / "blob"
    data = os.urandom(SIZE)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def connected() -> tuple[socket.socket, socket.socket]:
    """(server side, client side) of a loopback TCP connection; the server side non-blocking,
    as the event loop keeps it."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    server.setblocking(False)
    return server, client


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = connected()
    try:
        yield server, client
    finally:
        server.close()
        client.close()


def reader(client: socket.socket, out: list[str], pause: float) -> None:
    """Reads everything; ``pause`` seconds after every MiB (a client hashing and writing)."""
    digest = hashlib.sha256()
    got, mark = 0, 0
    while got < SIZE:
        chunk = client.recv(256 * 1024)
        if not chunk:
            break
        digest.update(chunk)
        got += len(chunk)
        if pause and got - mark >= 1024 * 1024:
            mark = got
            time.sleep(pause)
    out.append(digest.hexdigest())


def send(server: socket.socket, path: Path) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return blob_body.send_file_paced(server.fileno(), fd, SIZE)
    finally:
        os.close(fd)


@pytest.mark.parametrize("pause", [0.0, 0.005], ids=["fast-reader", "slow-reader"])
def test_the_whole_file_arrives(
    blob: tuple[Path, str],
    pair: tuple[socket.socket, socket.socket],
    pause: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    modes: list[str] = []
    real_copy, real_sendfile = blob_body._copy_window, blob_body._sendfile_window
    monkeypatch.setattr(blob_body, "_copy_window", lambda *a: modes.append("copy") or real_copy(*a))
    monkeypatch.setattr(
        blob_body, "_sendfile_window", lambda *a: modes.append("sendfile") or real_sendfile(*a)
    )
    server, client = pair
    out: list[str] = []
    thread = threading.Thread(target=reader, args=(client, out, pause))
    thread.start()
    assert send(server, blob[0]) == SIZE
    thread.join(60)
    assert out == [blob[1]]
    assert modes[0] == "sendfile"  # every transfer starts by sendfile
    if pause:  # at most 200 MB/s: a slow reader, copies once its pace is judged
        assert "copy" in modes[1:]
    assert blob_body.active_now() == 0
    assert not os.get_blocking(server.fileno())


def test_with_many_transfers_at_once_none_copies(
    blob: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three slow readers at once, above COPY_WHEN_AT_MOST = 2: all by sendfile."""
    monkeypatch.setattr(blob_body, "COPY_WHEN_AT_MOST", 2)
    copies: list[int] = []
    real_copy = blob_body._copy_window
    monkeypatch.setattr(
        blob_body, "_copy_window", lambda *a: copies.append(blob_body.active_now()) or real_copy(*a)
    )
    pairs = [connected() for _ in range(3)]
    gate = threading.Barrier(3)

    def sender(server: socket.socket) -> None:
        gate.wait()
        send(server, blob[0])

    try:
        outs: list[list[str]] = [[] for _ in pairs]
        readers = [
            threading.Thread(target=reader, args=(client, out, 0.005))
            for (_, client), out in zip(pairs, outs, strict=True)
        ]
        senders = [threading.Thread(target=sender, args=(server,)) for server, _ in pairs]
        for thread in readers + senders:
            thread.start()
        for thread in readers + senders:
            thread.join(120)
        assert outs == [[blob[1]]] * 3
        assert all(active <= 2 for active in copies)  # copies only once the others ended
        assert blob_body.active_now() == 0
    finally:
        for server, client in pairs:
            server.close()
            client.close()


def test_a_client_that_takes_nothing_is_dropped(
    blob: tuple[Path, str],
    pair: tuple[socket.socket, socket.socket],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(blob_body, "STALL_SECONDS", 0.5)
    server, _client = pair
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(send(server, blob[0])))
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "a stalled client held the worker"
    assert 0 < result[0] < SIZE  # what the buffers took, then given up


def test_a_client_that_leaves_ends_the_send(
    blob: tuple[Path, str], pair: tuple[socket.socket, socket.socket]
) -> None:
    server, client = pair
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(send(server, blob[0])))
    worker.start()
    client.recv(1024 * 1024)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # a reset
    worker.join(20)
    assert not worker.is_alive()
    assert result[0] < SIZE
