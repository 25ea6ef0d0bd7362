"""The embedded registry's port is never harborlite's own: the kernel may hand harborlite's
port out (it is not bound yet while the registry starts), and the registry then took it and
harborlite could not bind (seen once in the suite: exit 3, address already in use)."""

from __future__ import annotations

from typing import Any

import pytest

from harborlite.upstream import supervisor


class _Socket:
    handed = iter([45047, 45047, 51000])

    def __init__(self, *args: Any) -> None:
        self.port = 0

    def __enter__(self) -> _Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        self.port = next(self.handed)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_a_port_equal_to_harborlites_own_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harborlite.upstream.supervisor.socket.socket", _Socket)
    assert supervisor.free_loopback_port(but=45047) == 51000


def test_a_real_free_port_is_a_port() -> None:
    port = supervisor.free_loopback_port(but=8080)
    assert 0 < port < 65536 and port != 8080
