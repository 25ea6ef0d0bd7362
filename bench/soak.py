"""The soak: many clients pushing and pulling for minutes, harborlite against the bare registry.

    make soak                                  # 50 clients for 10 minutes, then 500 pullers
    python bench/soak.py --minutes 1 --clients 10 --pullers 50

Starts its own harborlite with its embedded registry (``bench/environment.py``, as ``make bench``
does). Each side, the bare registry first, gets the same load on loopback:

1. ``--clients`` concurrent clients, each in a loop until the time is up: push a layer of its
   own and the layer every client shares (monolithic upload), a config and a manifest tagged for
   this round, then pull the manifest by tag and both layers;
2. then ``--pullers`` concurrent clients pulling the shared manifest and layer once each.

It prints requests, errors, p50/p99 latency per phase, and each side's RSS after a warm-up and
at the end, and exits non-zero if any request to harborlite failed or harborlite's RSS grew by
more than ``--max-growth-mib`` (20). All traffic goes to 127.0.0.1; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from cases import rss_mib
from environment import PROJECT, Side, World, registry_pids, request, start_world, stop_world

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
REPOSITORIES = 5  # clients share these repositories (bench/soak-0 ... soak-4)
LAYER_BYTES = 32 * 1024


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Tally:
    """Latencies (seconds) of the requests that succeeded, and what failed."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies) + len(self.errors)

    def summary(self) -> dict[str, float | int]:
        ordered = sorted(self.latencies) or [0.0]

        def pct(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

        return {
            "requests": self.requests,
            "errors": len(self.errors),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
        }


class Client:
    """One soak client: its own connection pool, every request timed and checked."""

    def __init__(self, side: Side, authorization: str, tally: Tally) -> None:
        self.http = httpx.AsyncClient(
            base_url=side.url,
            headers={"Authorization": authorization},
            timeout=120,
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=2),
        )
        self.tally = tally

    async def call(
        self, method: str, path: str, expected: int, **kwargs: object
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await self.http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as error:
            self.tally.errors.append(f"{method} {path}: {error!r}")
            return None
        if response.status_code != expected:
            self.tally.errors.append(
                f"{method} {path}: {response.status_code} {response.text[:200]}"
            )
            return None
        self.tally.latencies.append(time.perf_counter() - started)
        return response

    async def push_blob(self, repository: str, data: bytes) -> str:
        """As docker and skopeo do: a HEAD first, an upload only when the blob is missing."""
        digest = digest_of(data)
        probe_started = time.perf_counter()
        try:
            probe = await self.http.head(f"/v2/{repository}/blobs/{digest}")
        except httpx.HTTPError as error:
            self.tally.errors.append(f"HEAD /v2/{repository}/blobs/{digest}: {error!r}")
            return digest
        if probe.status_code not in (200, 404):
            self.tally.errors.append(f"HEAD /v2/{repository}/blobs/{digest}: {probe.status_code}")
            return digest
        self.tally.latencies.append(time.perf_counter() - probe_started)
        if probe.status_code == 200:
            return digest
        started = await self.call("POST", f"/v2/{repository}/blobs/uploads/", 202)
        if started is None:
            return digest
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        await self.call(
            "PUT",
            f"{location}{separator}digest={digest}",
            201,
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        return digest

    async def push_image(self, repository: str, tag: str, layers: list[bytes]) -> None:
        config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
        await self.push_blob(repository, config)
        descriptors = []
        for layer in layers:
            digest = await self.push_blob(repository, layer)
            descriptors.append({"mediaType": OCI_LAYER, "digest": digest, "size": len(layer)})
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": digest_of(config),
                    "size": len(config),
                },
                "layers": descriptors,
            }
        ).encode()
        await self.call(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            201,
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )

    async def pull_image(self, repository: str, tag: str, layers: list[bytes]) -> None:
        await self.call(
            "GET", f"/v2/{repository}/manifests/{tag}", 200, headers={"Accept": OCI_MANIFEST}
        )
        for layer in layers:
            await self.call("GET", f"/v2/{repository}/blobs/{digest_of(layer)}", 200)

    async def close(self) -> None:
        await self.http.aclose()


def soak_token(world: World) -> str:
    """One admin token for every soak repository (30 minutes, renewed per phase)."""
    scopes = [f"repository:{PROJECT}/soak-{n}:pull,push" for n in range(REPOSITORIES)]
    query = urlencode([("service", "harbor-registry")] + [("scope", s) for s in scopes])
    answer = request(
        "GET", f"{world.harborlite.url}/service/token?{query}", {"Authorization": world.basic()}
    )
    assert answer.status == 200, answer.body
    return "Bearer " + json.loads(answer.body)["token"]


SHARED = os.urandom(LAYER_BYTES)  # the layer every client pushes and pulls


async def mixed_client(
    side: Side, authorization: str, number: int, deadline: float, tally: Tally
) -> None:
    client = Client(side, authorization, tally)
    repository = f"{PROJECT}/soak-{number % REPOSITORIES}"
    round_number = 0
    try:
        while time.monotonic() < deadline:
            own = os.urandom(LAYER_BYTES)
            tag = f"{side.label}-c{number}-r{round_number}"
            await client.push_image(repository, tag, [own, SHARED])
            await client.pull_image(repository, tag, [own, SHARED])
            round_number += 1
    finally:
        await client.close()


async def puller(side: Side, authorization: str, tally: Tally, start: asyncio.Event) -> None:
    client = Client(side, authorization, tally)
    try:
        await start.wait()
        await client.pull_image(f"{PROJECT}/soak-0", f"{side.label}-shared", [SHARED])
    finally:
        await client.close()


async def run_side(
    side: Side, authorization: str, clients: int, seconds: float, pullers: int
) -> tuple[Tally, Tally]:
    mixed = Tally()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(mixed_client(side, authorization, n, deadline, mixed) for n in range(clients))
    )
    setup = Client(side, authorization, Tally())
    await setup.push_image(f"{PROJECT}/soak-0", f"{side.label}-shared", [SHARED])
    await setup.close()
    pulled = Tally()
    start = asyncio.Event()
    tasks = [
        asyncio.create_task(puller(side, authorization, pulled, start)) for _ in range(pullers)
    ]
    await asyncio.sleep(0.1)
    start.set()
    await asyncio.gather(*tasks)
    return mixed, pulled


def rss_of(pids: list[int]) -> float:
    return round(sum(rss_mib(pid) for pid in pids), 1)


def soak_side(world: World, side: Side, args: argparse.Namespace) -> dict[str, object]:
    """Warm up, then the measured run; RSS of the side's process taken after each."""
    pids = [world.harborlite_pid()] if side.label == "harborlite" else registry_pids(world.server)
    pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()][-1:]
    authorization = soak_token(world)
    warm_up = min(30.0, args.minutes * 6)  # a tenth of the run, at most 30 s
    print(f"--- {side.label}: warm-up {warm_up:.0f} s", flush=True)
    asyncio.run(run_side(side, authorization, args.clients, warm_up, min(args.pullers, 50)))
    gc.collect()
    time.sleep(2)
    rss_start = rss_of(pids)
    print(f"--- {side.label}: {args.clients} clients for {args.minutes} min", flush=True)
    authorization = soak_token(world)
    mixed, pulled = asyncio.run(
        run_side(side, authorization, args.clients, args.minutes * 60, args.pullers)
    )
    time.sleep(2)
    rss_end = rss_of(pids)
    result: dict[str, object] = {
        "side": side.label,
        "mixed": mixed.summary(),
        "pullers": pulled.summary(),
        "rss_start_mib": rss_start,
        "rss_end_mib": rss_end,
        "rss_growth_mib": round(rss_end - rss_start, 1),
        "first_errors": (mixed.errors + pulled.errors)[:10],
    }
    print(json.dumps(result), flush=True)
    return result


def report(results: list[dict[str, object]], args: argparse.Namespace) -> str:
    lines = [
        f"soak: {args.clients} clients pushing and pulling for {args.minutes} min, "
        f"then {args.pullers} concurrent pullers",
        "",
        "| side | phase | requests | errors | p50 ms | p99 ms | RSS start MiB | RSS end MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for phase in ("mixed", "pullers"):
            figures = result[phase]
            assert isinstance(figures, dict)
            lines.append(
                f"| {result['side']} | {phase} | {figures['requests']} | {figures['errors']} | "
                f"{figures['p50_ms']} | {figures['p99_ms']} | {result['rss_start_mib']} | "
                f"{result['rss_end_mib']} |"
            )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="mixed phase length (10)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent push/pull clients")
    parser.add_argument("--pullers", type=int, default=500, help="concurrent pullers after")
    parser.add_argument("--max-growth-mib", type=float, default=20.0)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temp folder)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    # every soak client comes from 127.0.0.1: the per-client caps are for one real client
    os.environ.setdefault("HARBORLITE_MAX_PROXIED_PER_CLIENT", "100000")
    os.environ.setdefault("HARBORLITE_MAX_UPLOADS_PER_CLIENT", "100000")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="harborlite-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    world = start_world(
        workdir,
        blob_size=LAYER_BYTES,
        chunk_size=LAYER_BYTES,
        big_size=LAYER_BYTES,
        many_layers=1,
        many_layer_size=LAYER_BYTES,
    )
    try:
        results = [soak_side(world, side, args) for side in world.sides]
    finally:
        stop_world(world)
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report(results, args))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    harborlite = results[1]  # the bare registry's errors are reported, harborlite's count
    errors = sum(
        int(figures["errors"])  # type: ignore[index]
        for figures in (harborlite["mixed"], harborlite["pullers"])
    )
    growth = float(harborlite["rss_growth_mib"])  # type: ignore[arg-type]
    failed = []
    if errors:
        failed.append(f"{errors} requests failed")
    if growth > args.max_growth_mib:
        failed.append(f"harborlite's RSS grew by {growth} MiB (> {args.max_growth_mib})")
    print("soak " + ("FAILED: " + "; ".join(failed) if failed else "passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
