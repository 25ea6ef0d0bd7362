"""What the bench measures: one function per case, each run against one side at a time."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from environment import (
    ACCEPT_MANIFESTS,
    PROJECT,
    ROOT,
    World,
    chunked_put,
    curl,
    monolithic_put,
)

from tests.support.clients import ContainersHome, skopeo_copy

MB = 1_000_000
MiB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    kind: str  # "ratio_min": harborlite/registry >= value; "max" / "min": absolute bound
    value: float
    text: str


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    unit: str
    compared: bool  # measured on the bare registry too
    target: Target | None = None


# ------------------------------------------------------------------ process memory


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


PEAK_MIB = [0.0]  # the highest VmHWM seen before any reset


def peak_rss_mib(pid: int) -> float:
    PEAK_MIB[0] = max(PEAK_MIB[0], rss_mib(pid, "VmHWM"))
    return PEAK_MIB[0]


class PeakWatch:
    """Peak RSS growth of harborlite over one transfer (VmHWM after a reset)."""

    def __init__(self, world: World | None, active: bool, pid: int | None = None) -> None:
        self.pid = pid if pid is not None else world.harborlite_pid() if world else 0
        if active and pid is None:  # the world's harborlite: keep its peak over the run
            peak_rss_mib(self.pid)
        self.active = active and reset_peak(self.pid)
        self.before = rss_mib(self.pid) if self.active else 0.0
        self.growth = 0.0

    def done(self) -> None:
        if self.active:
            self.growth = rss_mib(self.pid, "VmHWM") - self.before


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(world: World, limit: float = 900.0, quiet: float = 2.0) -> float:
    """Wait until harborlite has written the pulls and audit entries a load left queued: its
    log (one line per audit entry) stays still for ``quiet`` seconds. Returns seconds waited.
    (CPU use is no guide: the writer spends much of its time waiting on SQLite.)"""
    log = world.server.log_path
    started = time.perf_counter()
    size, still_since = log.stat().st_size, time.perf_counter()
    while time.perf_counter() - started < limit:
        time.sleep(0.25)
        now = log.stat().st_size
        if now != size:
            size, still_since = now, time.perf_counter()
        elif time.perf_counter() - still_since >= quiet:
            break
    return time.perf_counter() - started - quiet


# ------------------------------------------------------------------ blobs


def warm_blob(world: World) -> None:
    """Read the big blob's file in the registry's storage once, untimed: otherwise whichever
    side goes first in a round pays for bringing it back into the page cache."""
    hexdigest = world.blob.digest.split(":", 1)[1]
    data = (
        world.server.data_dir
        / "registry/docker/registry/v2/blobs/sha256"
        / hexdigest[:2]
        / hexdigest
        / "data"
    )
    with open(data, "rb") as handle:
        while handle.read(8 * MiB):
            pass


BLOB_GET_TURNS = 3  # curl GETs of the big blob per side and round: the median counts


def blob_get(world: World, side: str) -> tuple[float, float]:
    """MB/s of a GET of the big blob (curl to /dev/null), the median of
    :data:`BLOB_GET_TURNS` in a row (one 1 GiB transfer takes half a second here: a moment's
    stall of this shared machine is a tenth of it); and RSS growth on harborlite."""
    target = getattr(world, side)
    watch = PeakWatch(world, side == "harborlite")
    speeds = []
    for _ in range(BLOB_GET_TURNS):
        out = curl(
            [
                "-H",
                f"Authorization: {world.bearer()}",
                f"{target.url}/v2/{PROJECT}/blob/blobs/{world.blob.digest}",
            ]
        )
        status, seconds, size = out.split()
        assert status == "200" and int(float(size)) == world.blob.size, (side, out)
        speeds.append(world.blob.size / float(seconds) / MB)
    watch.done()
    return statistics.median(speeds), watch.growth


def blob_put_monolithic(world: World, side: str) -> tuple[float, float]:
    target = getattr(world, side)
    watch = PeakWatch(world, side == "harborlite")
    seconds = monolithic_put(target, f"{PROJECT}/upload-{side}", world.blob, world.bearer())
    watch.done()
    return world.blob.size / seconds / MB, watch.growth


def blob_put_chunked(world: World, side: str) -> tuple[float, float]:
    target = getattr(world, side)
    watch = PeakWatch(world, side == "harborlite")
    seconds = chunked_put(target, f"{PROJECT}/upload-{side}", world.blob, world.bearer())
    watch.done()
    return world.blob.size / seconds / MB, watch.growth


# ------------------------------------------------------------------ request rates


def loadgen(
    url: str,
    *,
    method: str,
    headers: list[str],
    connections: int,
    duration: float,
    vary: int = 0,
) -> dict[str, float]:
    argv = [
        sys.executable,
        str(ROOT / "bench" / "loadgen.py"),
        "--url",
        url,
        "--method",
        method,
        "--connections",
        str(connections),
        "--duration",
        str(duration),
    ]
    for value in headers:
        argv += ["--header", value]
    if vary:
        argv += ["--vary", str(vary)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120)
    if result.returncode != 0:
        raise RuntimeError(f"loadgen failed: {result.stderr.strip()}")
    answer: dict[str, float] = json.loads(result.stdout)
    return answer


def manifest_rate(
    world: World, side: str, *, method: str, by: str, connections: int, duration: float
) -> dict[str, float]:
    target = getattr(world, side)
    reference = "latest" if by == "tag" else world.small.manifest_digest
    answer = loadgen(
        f"{target.url}/v2/{PROJECT}/small/manifests/{reference}",
        method=method,
        headers=[f"Authorization: {world.bearer()}", f"Accept: {ACCEPT_MANIFESTS}"],
        connections=connections,
        duration=duration,
    )
    statuses = answer["statuses"]
    assert isinstance(statuses, dict) and set(statuses) == {"200"}, (side, method, by, answer)
    return answer


def token_rate(
    world: World, connections: int, duration: float, *, vary: int = 0
) -> dict[str, float]:
    """Tokens for ``bench/small`` (pull, push) asked again and again; with ``vary``, for
    ``bench/small-{n}``, ``vary`` repositories in turn: every grant a new one, so every token
    is signed (the service hands a token signed for the same grant within a second out again:
    harborlite/auth/issued.py)."""
    repository = f"{PROJECT}/small-{{n}}" if vary else f"{PROJECT}/small"
    url = (
        f"{world.harborlite.url}/service/token?service=harbor-registry"
        f"&scope=repository:{repository}:pull,push"
    )
    answer = loadgen(
        url,
        method="GET",
        headers=[f"Authorization: {world.basic()}"],
        connections=connections,
        duration=duration,
        vary=vary,
    )
    statuses = answer["statuses"]
    assert isinstance(statuses, dict) and set(statuses) == {"200"}, answer
    return answer


def api_listing(world: World, repository: str, duration: float) -> dict[str, float]:
    encoded = repository.replace("/", "%252F")
    url = (
        f"{world.harborlite.url}/api/v2.0/projects/{PROJECT}/repositories/{encoded}"
        "/artifacts?page=1&page_size=100"
    )
    return loadgen(
        url,
        method="GET",
        headers=[f"Authorization: {world.basic()}"],
        connections=1,
        duration=duration,
    )


# ------------------------------------------------------------------ skopeo end to end


def _image_bytes(layout: Path) -> int:
    return sum(p.stat().st_size for p in (layout / "blobs").rglob("*") if p.is_file())


def _copy(src: str, dst: str, world: World) -> None:
    home_dir = Path(tempfile.mkdtemp(prefix="bench-home-", dir=world.workdir))
    try:
        skopeo_copy(src, dst, creds=world.admin, home=ContainersHome(home_dir))
    finally:
        shutil.rmtree(home_dir, ignore_errors=True)


def skopeo_push(world: World, side: str, layout: Path, repository: str) -> float:
    """MB/s of ``skopeo copy oci:... docker://side/repository:latest``."""
    target = getattr(world, side)
    started = time.perf_counter()
    _copy(f"oci:{layout}:latest", f"docker://{target.host}/{PROJECT}/{repository}:latest", world)
    return _image_bytes(layout) / (time.perf_counter() - started) / MB


def pull_root(world: World, needed: int) -> Path:
    """Where skopeo writes what it pulls: a tmpfs when one has room, else the scratch folder.

    skopeo's OCI layout destination fsyncs every blob, so on a disk a 1 GiB pull measures the
    disk (about 110 MB/s here, with seconds of jitter) on both sides alike; on a tmpfs it
    measures the server and skopeo itself."""
    shm = Path("/dev/shm")
    try:
        if os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * needed:
            return shm
    except OSError:
        pass
    return world.workdir


def _timed_copy(world: World, source: str, layout: Path, prefix: str) -> float:
    """MB/s of skopeo copying ``source`` into a fresh OCI layout where pulls write."""
    size = _image_bytes(layout)
    out = Path(tempfile.mkdtemp(prefix=prefix, dir=pull_root(world, size)))
    try:
        started = time.perf_counter()
        _copy(source, f"oci:{out}:latest", world)
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return size / seconds / MB


def skopeo_pull(world: World, side: str, layout: Path, repository: str) -> float:
    target = getattr(world, side)
    source = f"docker://{target.host}/{PROJECT}/{repository}:latest"
    return _timed_copy(world, source, layout, "bench-pull-")


def skopeo_local_floor(world: World, layout: Path) -> float:
    """MB/s of skopeo copying the image between two local OCI layouts, to where pulls write:
    what skopeo itself costs with no server at all, the ceiling of any pull."""
    return _timed_copy(world, f"oci:{layout}:latest", layout, "bench-local-")


def skopeo_concurrent(
    world: World, side: str, layout: Path, repositories: list[str], push: bool
) -> float:
    """Aggregate MB/s of len(repositories) skopeo clients running at once."""
    work = skopeo_push if push else skopeo_pull
    started = time.perf_counter()
    with ThreadPoolExecutor(len(repositories)) as pool:
        list(pool.map(lambda repo: work(world, side, layout, repo), repositories))
    seconds = time.perf_counter() - started
    return _image_bytes(layout) * len(repositories) / seconds / MB
