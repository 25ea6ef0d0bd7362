"""A harborlite serving HTTPS with a certificate from its own ``harborlite tls init``.

It listens on a non-loopback address of this machine: docker treats every 127.0.0.0/8
registry as insecure (it then skips verification), and containerd 1.6 speaks plain HTTP to
localhost unless told otherwise, so only a routable address shows that clients verify.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import ROOT, Harborlite, cleanup, start_harborlite
from tests.support.processes import free_port


def machine_address() -> str | None:
    """A global IPv4 address of this machine (not loopback, not a container bridge's)."""
    listed = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "scope", "global"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    found: list[tuple[str, str]] = []
    for line in listed.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "inet":
            found.append((fields[1], fields[3].split("/")[0]))
    for interface, address in found:
        if not interface.startswith(("br-", "docker", "veth", "cni")):
            if not ipaddress.ip_address(address).is_loopback:
                return address
    return None


def harborlite_cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harborlite", *args],
        env={**os.environ, "HARBORLITE_DATA_DIR": str(data_dir), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass(frozen=True)
class TlsSetup:
    """What ``tls init`` made: the data folder's ``tls/`` files, for the address served."""

    data_dir: Path
    address: str
    port: int

    @property
    def tls(self) -> Path:
        return self.data_dir / "tls"

    @property
    def ca(self) -> Path:
        return self.tls / "ca.crt"

    def env(self) -> dict[str, str]:
        return {
            "HARBORLITE_TLS_CERT": str(self.tls / "server.crt"),
            "HARBORLITE_TLS_KEY": str(self.tls / "server.key"),
            "HARBORLITE_PORT": str(self.port),
        }


def tls_setup(address: str) -> TlsSetup:
    data_dir = Path(tempfile.mkdtemp(prefix="harborlite-tls-"))
    port = free_port()
    done = harborlite_cli(data_dir, "tls", "init", address, "localhost", HARBORLITE_PORT=str(port))
    assert done.returncode == 0, done
    return TlsSetup(data_dir, address, port)


@pytest.fixture(scope="session")
def address() -> str:
    found = machine_address()
    if found is None:
        pytest.skip("this machine has no non-loopback IPv4 address to serve HTTPS on")
    return found


@pytest.fixture(scope="session")
def tls_harborlite(address: str) -> Iterator[Harborlite]:
    """harborlite on SQLite serving HTTPS at ADDRESS:PORT with its ``tls init`` certificate."""
    setup = tls_setup(address)
    server = start_harborlite(
        data_dir=setup.data_dir, extra_env=setup.env(), ca=setup.ca, address=address
    )
    try:
        yield server
    finally:
        cleanup(server)
