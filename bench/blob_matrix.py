"""The blob GET matrix of the ``blob`` group, and the machine's ceiling beside it.

Blob GETs from storage at two sizes (256 MiB and 1 GiB; ``--smoke``: 4 and 8 MiB) with 1 and 8
concurrent clients, on each side (the bare registry, harborlite), every side of every cell once
per round in the round's order; a one-client cell :data:`ONE_CLIENT_TURNS` times in a row of
turns (registry, harborlite, ceiling, and again), its value in the round the median of its
turns (one 1 GiB transfer takes half a second here, and a moment's stall of this shared
machine is a tenth of it). The client is ``bench/ceiling.c`` (built here with ``cc -O2``):
one process per client, each a plain HTTP/1.1 GET read into a 1 MiB buffer and discarded, so no
Python is on the client side. A cell's value is the aggregate MB/s: all bytes over the time from
the first client's connect to the last client's last byte.

The ceiling: the same program serves the same blob file (the registry's own data file, warm in
the page cache) with sendfile(2) to 1 or 8 loopback connections and reads it with the same
reader: the most any HTTP server on this machine could deliver to these clients. Each blob GET
row shows its fraction of the ceiling measured in the same round at the same size and client
count (``report.summarize(..., ceilings=CEILINGS)``).
"""

from __future__ import annotations

import json
import shutil
import socket
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import cases as c
from environment import PROJECT, ROOT, BlobFile, World, monolithic_put, write_random_file

# (label in the case names, MiB in a full run, MiB in --smoke)
SLOTS = (("256m", 256, 4), ("1g", 1024, 8))
CLIENTS = (1, 8)
SOURCE = ROOT / "bench" / "ceiling.c"
TARGET = c.Target("ratio_min", 1.3, ">= 1.3x")
ONE_CLIENT_TURNS = 3  # transfers per side of a one-client cell in a round (the median counts)


def get_name(slot: str, clients: int) -> str:
    return f"blob_get_{slot}_c{clients}"


def ceiling_name(slot: str, clients: int) -> str:
    return f"blob_ceiling_{slot}_c{clients}"


def _row(slot: str, clients: int, side: str) -> tuple[str, str]:
    """The case and the column a transfer of the cell on ``side`` is recorded in (the ceiling
    is a row of its own, in the harborlite column)."""
    if side == "ceiling":
        return ceiling_name(slot, clients), "harborlite"
    return get_name(slot, clients), side


def _size_text(mib: int) -> str:
    return f"{mib // 1024} GiB" if mib >= 1024 and mib % 1024 == 0 else f"{mib} MiB"


def _clients_text(clients: int, noun: str) -> str:
    return f"{clients} {noun}" + ("" if clients == 1 else "s")


def _matrix(name: Callable[[str, int], str], text: str, noun: str, targeted: bool) -> list[c.Case]:
    """One case per slot and client count: ``name(slot, clients)``, ``text`` + size, count."""
    made = []
    for slot, mib, _smoke in SLOTS:
        for clients in CLIENTS:
            made.append(
                c.Case(
                    name(slot, clients),
                    f"{text}, {_size_text(mib)}, {_clients_text(clients, noun)}"
                    + (" (aggregate)" if targeted else ""),
                    "MB/s",
                    targeted,
                    TARGET if targeted else None,
                )
            )
    return made


CASES: list[c.Case] = _matrix(get_name, "blob GET from storage", "client", True) + _matrix(
    ceiling_name, "ceiling: sendfile(2) page cache to loopback, C reader", "reader", False
)
CEILINGS: dict[str, str] = {  # blob GET case -> its ceiling case
    get_name(slot, clients): ceiling_name(slot, clients)
    for slot, _mib, _smoke in SLOTS
    for clients in CLIENTS
}


def build(workdir: Path) -> Path:
    """Compile bench/ceiling.c into the scratch folder; a missing compiler says what to do."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc): install Debian's gcc (make system-packages)")
    binary = workdir / "ceiling"
    subprocess.run(
        [compiler, "-O2", "-Wall", "-o", str(binary), str(SOURCE)],
        check=True,
        capture_output=True,
        text=True,
    )
    return binary


def storage_path(world: World, digest: str) -> Path:
    """The blob's data file in the registry's filesystem storage."""
    hexdigest = digest.split(":", 1)[1]
    return (
        world.server.data_dir
        / "registry/docker/registry/v2/blobs/sha256"
        / hexdigest[:2]
        / hexdigest
        / "data"
    )


def warm(path: Path) -> None:
    """Read the file once, untimed, so that no side pays for the page cache."""
    with open(path, "rb", buffering=0) as handle:
        while handle.read(8 * c.MiB):
            pass


class BlobMatrix:
    """Set up once per run (the client built, one blob per size in storage), then one
    ``round`` per bench round."""

    def __init__(self, world: World, smoke: bool, add: Callable[[str, str, float], None]) -> None:
        self.world = world
        self.add = add
        self.binary = build(world.workdir)
        self.blobs: dict[str, tuple[int, str]] = {}  # slot -> (size, digest)
        for slot, full, small in SLOTS:
            size = (small if smoke else full) * c.MiB
            self.blobs[slot] = (size, self._stored(slot, size))
        self.mib = {slot: size // c.MiB for slot, (size, _) in self.blobs.items()}

    def _stored(self, slot: str, size: int) -> str:
        """A blob of ``size`` bytes in bench/blob, pushed through harborlite (so its index
        knows it): the world's big blob when it has that size, else a new random one."""
        if size == self.world.blob.size:
            return self.world.blob.digest
        path = self.world.workdir / f"matrix-{slot}.bin"
        try:
            digest = write_random_file(path, size)
            blob = BlobFile(path, digest, size)
            monolithic_put(self.world.harborlite, f"{PROJECT}/blob", blob, self.world.bearer())
        finally:
            path.unlink(missing_ok=True)  # the registry's storage holds it now
        return digest

    def _run(self, argv: list[str]) -> float:
        result = subprocess.run(
            [str(self.binary), *argv], capture_output=True, text=True, timeout=900, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"ceiling {argv[0]} failed: {result.stderr.strip()[-300:]}")
        answer = json.loads(result.stdout)
        return float(answer["mbps"])

    def get(self, side: str, slot: str, clients: int) -> float:
        """Aggregate MB/s of ``clients`` concurrent GETs of the slot's blob on one side."""
        size, digest = self.blobs[slot]
        parts = urlsplit(getattr(self.world, side).url)
        host = socket.gethostbyname(parts.hostname or "127.0.0.1")
        path = f"/v2/{PROJECT}/blob/blobs/{digest}"
        argv = ["get", host, str(parts.port), path, self.world.bearer(), str(clients), str(size)]
        return self._run(argv)

    def ceiling(self, slot: str, clients: int) -> float:
        _, digest = self.blobs[slot]
        return self._run(["sendfile", str(storage_path(self.world, digest)), str(clients)])

    def round(
        self, number: int, sides: list[str], measured: Callable[[str, Callable[[], None]], None]
    ) -> None:
        """Every cell once on each side and the ceiling, the ceiling's turn alternating."""
        order = [*sides, "ceiling"] if number % 2 == 0 else ["ceiling", *sides]
        for slot, _, _ in SLOTS:
            _, digest = self.blobs[slot]
            warm(storage_path(self.world, digest))
            for clients in CLIENTS:
                turns: dict[str, list[float]] = {side: [] for side in order}
                for _turn in range(ONE_CLIENT_TURNS if clients == 1 else 1):
                    for side in order:

                        def one(
                            slot: str = slot,
                            clients: int = clients,
                            side: str = side,
                            into: list[float] = turns[side],
                        ) -> None:
                            into.append(self._one(slot, clients, side))

                        measured(f"blob GET matrix {slot} x{clients} on {side}", one)
                for side, speeds in turns.items():
                    if speeds:
                        self.add(*_row(slot, clients, side), statistics.median(speeds))

    def _one(self, slot: str, clients: int, side: str) -> float:
        """One transfer of the cell on one side: its MB/s."""
        name, _ = _row(slot, clients, side)
        if side == "ceiling":
            speed = self.ceiling(slot, clients)
        else:
            watch = c.PeakWatch(self.world, side == "harborlite")
            speed = self.get(side, slot, clients)
            watch.done()
            if side == "harborlite":
                self.add("rss_growth_big_transfer", side, watch.growth)
        print(f"{name:28s} {side:10s} {speed:10.1f} MB/s", flush=True)
        return speed

    def note(self) -> str:
        sizes = " and ".join(_size_text(self.mib[slot]) for slot, _, _ in SLOTS)
        return (
            f"blob GET matrix: {sizes} blobs, {' and '.join(map(str, CLIENTS))} concurrent "
            "clients, each client a process of bench/ceiling.c (cc -O2; HTTP/1.1 GET read into a "
            "1 MiB buffer and discarded), aggregate MB/s from the first connect to the last byte "
            f"(a one-client cell: the median of {ONE_CLIENT_TURNS} turns per side and round); "
            "the ceiling rows: the same file sent by sendfile(2) from the page cache to as many "
            "loopback readers of the same program, measured in every round beside both sides; "
            "'of ceiling' = median MB/s / median ceiling of the same size and client count"
        )
