"""The scale cases: many clients pulling, many pushers on PostgreSQL (listing: scale_listing.py).

- :func:`pull_clients`: N concurrent clients pulling the world's small image (manifest GET by
  tag, config and layer blobs) for a fixed time, each on its own connection from its own
  loopback source address (127.0.0.2 to .251), the load spread over a few processes
  (``bench/scale_load.py``). harborlite's per-address budget then sees what N machines would
  cause; every client is the same user (one CI robot pulling from many machines).
- :class:`PushWorld`: a second harborlite on a real PostgreSQL; :meth:`PushWorld.push` has N
  pushers, each its own user (a member of the project) from its own address, push their own
  small images, while the connections PostgreSQL has open for harborlite's database are
  sampled. The registry side: the same pushes straight to that harborlite's registry.

Every case samples the RSS and open files of the process under load (harborlite, or the
registry for the registry side) and reports harborlite's peak RSS growth (VmHWM after a reset).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import resource
import subprocess
import sys
import threading
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cases import PeakWatch, rss_mib
from environment import PROJECT, ROOT, World, registry_pids, registry_url_of

from tests.api.pushing import digest_of, image_manifest
from tests.harness import Harborlite, cleanup, start_harborlite
from tests.support.processes import PostgresServer

ADDRESSES = 250  # source addresses 127.0.0.2 .. 127.0.0.251


def raise_open_files(needed: int) -> str:
    """Raise this process's soft open-file limit (children inherit it) to cover ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, needed)) if hard != resource.RLIM_INFINITY else max(soft, needed)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return f"open-file limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]} (hard {hard})"


def open_files(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class Sampler(threading.Thread):
    """Peak RSS (MiB) and open files of a process, every ``every`` seconds, until stopped."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.rss = 0.0
        self.fds = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            try:
                self.rss = max(self.rss, rss_mib(self.pid))
            except OSError:
                pass
            self.fds = max(self.fds, open_files(self.pid))
            self._done.wait(self.every)

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join()


@dataclass
class LoadResult:
    count: int
    seconds: float
    errors: int
    statuses: dict[str, int]
    latencies: list[float]
    failures: list[str] = field(default_factory=list)

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run_load(argv_per_process: list[list[str]], workdir: Path, timeout: float) -> LoadResult:
    """Run scale_load.py processes at once; merge their answers and latencies."""
    running = []
    for number, argv in enumerate(argv_per_process):
        out = workdir / f"latencies-{os.getpid()}-{number}.bin"
        command = [sys.executable, str(ROOT / "bench" / "scale_load.py"), *argv]
        command += ["--latencies", str(out)]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        running.append((process, out))
    result = LoadResult(0, 0.0, 0, {}, [])
    for process, out in running:
        stdout, stderr = process.communicate(timeout=timeout)
        if process.returncode != 0:
            raise RuntimeError(f"scale_load failed: {stderr.strip()[-2000:]}")
        answer = json.loads(stdout)
        result.count += answer["count"]
        result.seconds = max(result.seconds, answer["seconds"])
        result.errors += answer["errors"]
        result.failures += answer["failures"]
        for status, n in answer["statuses"].items():
            result.statuses[status] = result.statuses.get(status, 0) + n
        values = array("d")
        with open(out, "rb") as handle:
            values.frombytes(handle.read())
        result.latencies += values.tolist()
        out.unlink()
    return result


def _shares(total: int, parts: int) -> list[tuple[int, int]]:
    """(first index, count) of each of ``parts`` processes for ``total`` clients."""
    parts = max(1, min(parts, total))
    base, extra = divmod(total, parts)
    shares, first = [], 0
    for part in range(parts):
        count = base + (1 if part < extra else 0)
        shares.append((first, count))
        first += count
    return shares


# ------------------------------------------------------------------ many pullers


def pull_clients(
    world: World, side: str, clients: int, duration: float, processes: int
) -> dict[str, Any]:
    """``clients`` clients pulling the small image for ``duration`` s; errors, rate, latency,
    peak RSS and open files of the side's process, harborlite's RSS growth."""
    target = getattr(world, side)
    image = world.small
    blobs = [image.config_digest, *image.layer_digests]
    pid = world.harborlite_pid() if side == "harborlite" else registry_pids(world.server)[-1]
    argv = []
    for first, count in _shares(clients, processes):
        args = ["pull", "--url", target.url, "--name", f"{PROJECT}/small", "--tag", "latest"]
        for digest in blobs:
            args += ["--blob", digest]
        args += ["--header", f"Authorization: {world.bearer()}"]
        args += ["--clients", str(count), "--duration", str(duration)]
        args += ["--first-address", str(2 + first % ADDRESSES)]
        argv.append(args)
    watch = PeakWatch(world, side == "harborlite")
    with Sampler(pid) as sampled:
        result = run_load(argv, world.workdir, timeout=duration + 300)
    watch.done()
    return {
        "requests": result.count,
        "rps": result.count / result.seconds if result.seconds else 0.0,
        "p50_ms": result.pct(0.50),
        "p99_ms": result.pct(0.99),
        "errors": result.errors,
        "statuses": result.statuses,
        "failures": result.failures,
        "rss_peak_mib": sampled.rss,
        "open_files_peak": sampled.fds,
        "rss_growth_mib": watch.growth,
    }


# ------------------------------------------------------------------ many pushers on PostgreSQL

PUSH_PROJECT = "scale"
PUSHER_PASSWORD = "Pusher12345x"


def small_image(seed: str, layer_bytes: int) -> dict[str, Any]:
    """A distinct small image: a random-looking layer and its own config, as the plan wants."""
    layer = b"".join(
        hashlib.sha256(f"{seed}/{n}".encode()).digest() for n in range(-(-layer_bytes // 32))
    )[:layer_bytes]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"seed": seed}},
            "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]},
        }
    ).encode()
    return {
        "blobs": [layer.hex(), config.hex()],
        "manifest": image_manifest(config, layer).decode(),
    }


def pool_of(database_url: str) -> tuple[int, int]:
    """(pool_size, max_overflow) harborlite's engine gets for this URL (harborlite.db.engine)."""
    from harborlite.db.engine import make_engine

    engine = make_engine(database_url)
    pool: Any = engine.sync_engine.pool
    try:
        return int(pool.size()), int(pool._max_overflow)
    finally:
        asyncio.run(engine.dispose())


class ConnectionSampler(threading.Thread):
    """Peak number of PostgreSQL backends connected to ``database`` (pg_stat_activity) that
    harborlite opened (its client backends, named :data:`harborlite.db.engine.APPLICATION_NAME`);
    beside it the peak of the other client backends (a connection harborlite opened without its
    name: 0 expected) and of PostgreSQL's own workers on the database (autovacuum, which an
    earlier count of every backend took for a 31st connection of a pool of 30)."""

    def __init__(self, port: int, database: str, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.port, self.database, self.every = port, database, every
        self.peak = 0
        self.others_peak = 0  # client backends not named harborlite's
        self.workers_peak = 0  # PostgreSQL's own (autovacuum workers) on the database
        self.workers_seen: set[str] = set()
        self.samples = 0
        # what harborlite's backends were doing, sample by sample: (state, wait event, the
        # statement's first words) -> backends seen so (where a push waits, or holds, a
        # connection)
        self.doing: dict[str, int] = {}
        self.at_peak: list[str] = []  # harborlite's backends in the sample that saw the peak
        self._done = threading.Event()
        self.error: BaseException | None = None

    async def _sample(self) -> None:
        import asyncpg

        from harborlite.db.engine import APPLICATION_NAME

        conn = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user="postgres", database="postgres"
        )
        try:
            while not self._done.is_set():
                rows = await conn.fetch(
                    "SELECT pid, backend_type, application_name, backend_start, state, "
                    "wait_event, left(query, 40) AS query FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid() ORDER BY backend_start",
                    self.database,
                )
                ours = [r for r in rows if r["application_name"] == APPLICATION_NAME]
                clients = [r for r in rows if r["backend_type"] == "client backend"]
                workers = [r for r in rows if r["backend_type"] != "client backend"]
                self.others_peak = max(self.others_peak, len(clients) - len(ours))
                self.workers_peak = max(self.workers_peak, len(workers))
                self.workers_seen.update(f"{r['backend_type']}: {r['query']}" for r in workers)
                if len(ours) > self.peak:
                    self.at_peak = [
                        f"{row['pid']} {row['backend_start']:%H:%M:%S.%f} "
                        f"{row['state']} / {row['query']}"
                        for row in ours
                    ]
                self.peak = max(self.peak, len(ours))
                for row in ours:
                    key = f"{row['state']} / {row['wait_event'] or '-'} / {row['query']}"
                    self.doing[key] = self.doing.get(key, 0) + 1
                self.samples += 1
                await asyncio.sleep(self.every)
        finally:
            await conn.close()

    def run(self) -> None:
        try:
            asyncio.run(self._sample())
        except BaseException as error:  # reported by the caller
            self.error = error

    def __enter__(self) -> ConnectionSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join()


class PushWorld:
    """A harborlite on a real PostgreSQL, with ``pushers`` users who may push to its project."""

    DATABASE = "scale"

    def __init__(self, workdir: Path, pushers: int, pool_query: str = "") -> None:
        self.workdir = workdir
        self.pushers = pushers
        self.postgres = PostgresServer(database=self.DATABASE)
        self.server: Harborlite | None = None
        try:
            # ``pool_query``: the pool's sizes in the database URL (``pool_size=5&max_overflow=2``)
            self.database_url = self.postgres.dsn + (f"?{pool_query}" if pool_query else "")
            self.pool = pool_of(self.database_url)
            data_dir = workdir / "pg-harborlite"
            data_dir.mkdir(parents=True)
            self.server = start_harborlite(
                self.database_url,
                data_dir=data_dir,
                extra_env={"HARBORLITE_TOKEN_EXPIRATION": "240"},
            )
            self.registry_url = registry_url_of(data_dir)
            self.server.create_project(PUSH_PROJECT)
            self.users = [f"pusher-{n}" for n in range(pushers)]
            for user in self.users:
                self.server.create_user(user, PUSHER_PASSWORD)
                self.server.add_member(PUSH_PROJECT, user, 2)  # developer: may push
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.server is not None:
            cleanup(self.server)
        self.postgres.stop()

    def plan(self, side: str, label: str, images: int, layer_bytes: int) -> list[dict[str, Any]]:
        """One pusher per user: its own repository and ``images`` distinct images; on the
        harborlite side a token of its own user, on the registry side one the admin has."""
        assert self.server is not None
        plan = []
        for n, user in enumerate(self.users):
            name = f"{PUSH_PROJECT}/{side}-{label}-{n}"
            auth = (user, PUSHER_PASSWORD) if side == "harborlite" else self.server.admin
            token = self.server.token(f"repository:{name}:pull,push", auth)
            pushed = []
            for k in range(images):
                image = small_image(f"{name}/{k}", layer_bytes)
                image["tag"] = f"t{k}"
                pushed.append(image)
            plan.append({"name": name, "token": token, "images": pushed})
        return plan

    def push(
        self, side: str, label: str, images: int, layer_bytes: int, processes: int
    ) -> dict[str, Any]:
        assert self.server is not None
        plan = self.plan(side, label, images, layer_bytes)
        url = self.server.url if side == "harborlite" else self.registry_url
        pid = self.server.process.pid if side == "harborlite" else registry_pids(self.server)[-1]
        argv = []
        for number, (first, count) in enumerate(_shares(len(plan), processes)):
            path = self.workdir / f"push-plan-{side}-{label}-{number}.json"
            path.write_text(json.dumps(plan[first : first + count]))
            first_address = str(2 + first % ADDRESSES)
            argv.append(
                ["push", "--url", url, "--plan", str(path), "--first-address", first_address]
            )
        watch = PeakWatch(None, side == "harborlite", pid=self.server.process.pid)
        with (
            Sampler(pid) as sampled,
            ConnectionSampler(self.postgres.port, self.DATABASE) as connections,
        ):
            result = run_load(argv, self.workdir, timeout=900)
        watch.done()
        if connections.error is not None:
            raise RuntimeError(f"sampling pg_stat_activity failed: {connections.error!r}")
        return {
            "pushes": result.count,
            "rate": result.count / result.seconds if result.seconds else 0.0,
            "p50_ms": result.pct(0.50),
            "p99_ms": result.pct(0.99),
            "errors": result.errors,
            "statuses": result.statuses,
            "failures": result.failures,
            "pg_connections_peak": connections.peak,
            "pg_samples": connections.samples,
            "pg_doing": connections.doing,
            "pg_at_peak": connections.at_peak,
            "pg_others_peak": connections.others_peak,
            "pg_workers_peak": connections.workers_peak,
            "pg_workers_seen": sorted(connections.workers_seen),
            "rss_peak_mib": sampled.rss,
            "open_files_peak": sampled.fds,
            "rss_growth_mib": watch.growth,
        }


# ------------------------------------------------------------------ alone


def main() -> None:
    """``python bench/scale.py push --pushers 40``: the push case alone, harborlite and the
    registry in interleaved rounds of one run (the rest of the bench is not started)."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("case", choices=["push"])
    parser.add_argument("--pushers", type=int, default=40)
    parser.add_argument("--images", type=int, default=2, help="images per pusher")
    parser.add_argument("--layer-bytes", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument(
        "--doing", type=int, default=0, help="print what harborlite's backends did most"
    )
    parser.add_argument(
        "--pool", default="", help="pool sizes in the database URL: pool_size=5&max_overflow=2"
    )
    args = parser.parse_args()
    print(raise_open_files(4 * args.pushers + 256), flush=True)
    with tempfile.TemporaryDirectory(prefix="scale-push-") as tmp:
        world = PushWorld(Path(tmp), args.pushers, args.pool)
        try:
            size, overflow = world.pool
            print(f"{args.pushers} pushers; pool_size {size} + max_overflow {overflow}", flush=True)
            for number in range(args.rounds):
                for side in ("harborlite", "registry"):
                    answer = world.push(
                        side, f"r{number}", args.images, args.layer_bytes, args.load_processes
                    )
                    print(
                        f"round {number + 1} {side:10s} {answer['rate']:7.1f} push/s "
                        f"p50 {answer['p50_ms']:7.0f} ms p99 {answer['p99_ms']:7.0f} ms "
                        f"errors {answer['errors']} pg connections "
                        f"{answer['pg_connections_peak']} (others {answer['pg_others_peak']}, "
                        f"PostgreSQL's workers {answer['pg_workers_peak']}) "
                        f"{_first(answer['failures'])}",
                        flush=True,
                    )
                    for worker in answer["pg_workers_seen"][: args.doing]:
                        print(f"    not harborlite's: {worker}")
                    if side == "harborlite" and args.doing and answer["pg_at_peak"]:
                        print("    at the peak:")
                        for backend in answer["pg_at_peak"]:
                            print(f"      {backend}")
                    if side == "harborlite" and args.doing:
                        doing = sorted(answer["pg_doing"].items(), key=lambda kv: -kv[1])
                        for what, seen in doing[: args.doing]:
                            print(f"    {seen / answer['pg_samples']:6.2f}  {what}")
        finally:
            world.close()


def _first(failures: list[str]) -> str:
    return f"first failures: {failures[:3]}" if failures else ""


if __name__ == "__main__":
    main()
