"""How a whole file goes to a client (harborlite.http.blob_body), on real loopback TCP
sockets: everything arrives, fast reader or slow, by copies while few transfers run and by
sendfile while many do (the tally tells which way each byte went), and a client that takes
nothing is dropped."""

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

SIZE = 40 * 1024 * 1024  # three windows of blob_body.WINDOW (16 MiB)


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


def send(server: socket.socket, path: Path, tally: blob_body.Tally | None = None) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return blob_body.sender(tally)(server.fileno(), fd, SIZE)
    finally:
        os.close(fd)


@pytest.mark.parametrize("pause", [0.0, 0.002], ids=["fast-reader", "slow-reader"])
def test_one_transfer_goes_whole_by_copies(
    blob: tuple[Path, str], pair: tuple[socket.socket, socket.socket], pause: float
) -> None:
    server, client = pair
    out: list[str] = []
    ways: list[tuple[str, int]] = []
    thread = threading.Thread(target=reader, args=(client, out, pause))
    thread.start()
    assert send(server, blob[0], lambda way, n: ways.append((way, n))) == SIZE
    thread.join(60)
    assert out == [blob[1]]
    # every window told, each by copies: one transfer is below COPY_WHEN_AT_MOST
    assert ways == [("copy", blob_body.WINDOW), ("copy", blob_body.WINDOW), ("copy", 8 << 20)]
    assert blob_body.active_now() == 0
    assert not os.get_blocking(server.fileno())


def test_beside_two_other_transfers_everything_goes_by_sendfile(
    blob: tuple[Path, str],
    pair: tuple[socket.socket, socket.socket],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two transfers already run (COPY_WHEN_AT_MOST = 2): the third one sends by sendfile."""
    monkeypatch.setattr(blob_body, "COPY_WHEN_AT_MOST", 2)
    monkeypatch.setattr(blob_body, "_active", 2)
    server, client = pair
    out: list[str] = []
    ways: list[tuple[str, int]] = []
    thread = threading.Thread(target=reader, args=(client, out, 0.0))
    thread.start()
    assert send(server, blob[0], lambda way, n: ways.append((way, n))) == SIZE
    thread.join(60)
    assert out == [blob[1]]
    assert {way for way, _ in ways} == {"sendfile"}
    assert sum(n for _, n in ways) == SIZE
    assert blob_body.active_now() == 2  # its own count given back


def test_three_transfers_at_once_arrive_whole(blob: tuple[Path, str]) -> None:
    pairs = [connected() for _ in range(3)]
    told: list[list[tuple[str, int]]] = [[] for _ in pairs]
    gate = threading.Barrier(3)

    def sender(number: int, server: socket.socket) -> None:
        gate.wait(30)
        send(server, blob[0], lambda way, n: told[number].append((way, n)))

    try:
        outs: list[list[str]] = [[] for _ in pairs]
        readers = [
            threading.Thread(target=reader, args=(client, out, 0.001))
            for (_, client), out in zip(pairs, outs, strict=True)
        ]
        senders = [
            threading.Thread(target=sender, args=(number, server))
            for number, (server, _) in enumerate(pairs)
        ]
        for thread in readers + senders:
            thread.start()
        for thread in readers + senders:
            thread.join(120)
        assert outs == [[blob[1]]] * 3
        assert [sum(n for _, n in tallies) for tallies in told] == [SIZE] * 3
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
