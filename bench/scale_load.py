"""The scale cases' load, run as its own processes by ``bench/scale.py`` (never in harborlite's).

    python bench/scale_load.py pull --url http://127.0.0.1:5000 --name bench/small --tag latest \
        --blob sha256:... --blob sha256:... --header "Authorization: Bearer ..." \
        --clients 500 --duration 10 --first-address 2 --latencies out.bin
    python bench/scale_load.py push --url http://127.0.0.1:5000 --plan plan.json \
        --first-address 2 --latencies out.bin

``pull``: N clients, each on its own keep-alive connection from its own loopback source address
(127.0.0.<first-address + i mod 250>), pull the same small image over and over: manifest GET by
tag, then each blob. ``push``: each pusher of the plan (a JSON list of ``{"name", "token",
"images": [{"blobs": [hex bytes...], "manifest": text, "tag"}]}``) pushes its images in turn:
POST an upload and PUT each blob monolithically, then PUT the manifest. Raw asyncio streams on
uvloop, as ``bench/loadgen.py``.

Prints one JSON line: requests (or pushes), seconds, status counts, errors (non-2xx answers
and connection failures, every one counted), and writes every latency in seconds as doubles
to ``--latencies`` (the caller merges the processes' files for the percentiles).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from array import array
from typing import Any
from urllib.parse import urlsplit

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a harborlite dependency
    uvloop = None  # type: ignore[assignment]

ACCEPT = (
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Tally:
    def __init__(self) -> None:
        self.latencies = array("d")
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.failures: list[str] = []

    def failed(self, what: str) -> None:
        self.errors += 1
        if len(self.failures) < 10:
            self.failures.append(what[:300])


def source_address(first: int, index: int) -> str:
    return f"127.0.0.{2 + (first - 2 + index) % 250}"


async def read_answer(reader: asyncio.StreamReader, head_only: bool) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name:
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if head_only or status in (204, 304):
        return status, headers
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length := int(headers.get("content-length", "0")):
        await reader.readexactly(length)
    return status, headers


class Connection:
    """One keep-alive connection from a fixed source address, reopened when the server closes."""

    def __init__(self, host: str, port: int, netloc: str, source: str) -> None:
        self.host, self.port, self.netloc, self.source = host, port, netloc, source
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(
        self, method: str, target: str, headers: list[str], body: bytes = b""
    ) -> tuple[int, dict[str, str]]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, local_addr=(self.source, 0), limit=1 << 20
            )
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.netloc}", *headers]
        if body or method in ("PUT", "POST", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        try:
            status, answer = await read_answer(self.reader, method == "HEAD")
        except BaseException:
            self.close()
            raise
        if answer.get("connection", "").lower() == "close":
            self.close()
        return status, answer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# ------------------------------------------------------------------ pull


async def one_puller(
    args: argparse.Namespace, index: int, counted_from: float, deadline: float, tally: Tally
) -> None:
    parts = urlsplit(args.url)
    conn = Connection(
        parts.hostname or "127.0.0.1",
        parts.port or 80,
        parts.netloc,
        source_address(args.first_address, index),
    )
    targets = [(f"/v2/{args.name}/manifests/{args.tag}", [f"Accept: {ACCEPT}"])]
    targets += [(f"/v2/{args.name}/blobs/{digest}", []) for digest in args.blob]
    try:
        while time.perf_counter() < deadline:
            for target, extra in targets:
                started = time.perf_counter()
                try:
                    status, _ = await conn.exchange("GET", target, args.header + extra)
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    if started >= counted_from:
                        tally.failed(f"{target}: {error!r}")
                    conn.close()
                    await asyncio.sleep(0.05)
                    break
                if started >= counted_from and started < deadline:
                    tally.latencies.append(time.perf_counter() - started)
                    tally.statuses[status] = tally.statuses.get(status, 0) + 1
                    if not 200 <= status < 300:
                        tally.failed(f"{target}: {status}")
    finally:
        conn.close()


async def pull(args: argparse.Namespace, tally: Tally) -> float:
    counted_from = time.perf_counter() + args.warmup
    deadline = counted_from + args.duration
    await asyncio.gather(
        *(one_puller(args, i, counted_from, deadline, tally) for i in range(args.clients))
    )
    return time.perf_counter() - counted_from


# ------------------------------------------------------------------ push


def _path_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def push_image(
    conn: Connection, name: str, auth: list[str], image: dict[str, Any], tally: Tally
) -> bool:
    """One image: each blob (POST, then PUT ?digest=), then the manifest; False on a failure."""
    import hashlib

    for blob_hex in image["blobs"]:
        blob = bytes.fromhex(blob_hex)
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        status, headers = await conn.exchange("POST", f"/v2/{name}/blobs/uploads/", auth)
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        if status != 202:
            tally.failed(f"POST {name}: {status}")
            return False
        location = _path_of(headers["location"])
        separator = "&" if "?" in location else "?"
        status, _ = await conn.exchange(
            "PUT",
            f"{location}{separator}digest={digest}",
            [*auth, "Content-Type: application/octet-stream"],
            blob,
        )
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        if status != 201:
            tally.failed(f"PUT blob {name}: {status}")
            return False
    status, _ = await conn.exchange(
        "PUT",
        f"/v2/{name}/manifests/{image['tag']}",
        [*auth, f"Content-Type: {OCI_MANIFEST}"],
        image["manifest"].encode(),
    )
    tally.statuses[status] = tally.statuses.get(status, 0) + 1
    if status != 201:
        tally.failed(f"PUT manifest {name}: {status}")
        return False
    return True


async def one_pusher(
    args: argparse.Namespace, index: int, pusher: dict[str, Any], start: asyncio.Event, tally: Tally
) -> None:
    parts = urlsplit(args.url)
    conn = Connection(
        parts.hostname or "127.0.0.1",
        parts.port or 80,
        parts.netloc,
        source_address(args.first_address, index),
    )
    auth = [f"Authorization: Bearer {pusher['token']}"]
    await start.wait()
    try:
        for image in pusher["images"]:
            started = time.perf_counter()
            try:
                if await push_image(conn, pusher["name"], auth, image, tally):
                    tally.latencies.append(time.perf_counter() - started)
            except (OSError, asyncio.IncompleteReadError, ValueError, KeyError) as error:
                tally.failed(f"{pusher['name']}: {error!r}")
                conn.close()
    finally:
        conn.close()


async def push(args: argparse.Namespace, tally: Tally, plan: list[dict[str, Any]]) -> float:
    start = asyncio.Event()
    tasks = [
        asyncio.ensure_future(one_pusher(args, i, pusher, start, tally))
        for i, pusher in enumerate(plan)
    ]
    await asyncio.sleep(0)
    started = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["pull", "push"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--name", help="pull: the repository")
    parser.add_argument("--tag", default="latest")
    parser.add_argument("--blob", action="append", default=[], help="pull: a blob digest")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=0.5, help="pull: seconds not counted")
    parser.add_argument("--plan", help="push: the JSON plan")
    parser.add_argument("--first-address", type=int, default=2)
    parser.add_argument("--latencies", required=True)
    args = parser.parse_args()
    tally = Tally()
    runner = uvloop.run if uvloop is not None else asyncio.run
    if args.mode == "pull":
        seconds = runner(pull(args, tally))
    else:
        with open(args.plan) as handle:
            plan = json.load(handle)
        seconds = runner(push(args, tally, plan))
    with open(args.latencies, "wb") as out:
        tally.latencies.tofile(out)
    print(
        json.dumps(
            {
                "count": len(tally.latencies),
                "seconds": seconds,
                "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
                "errors": tally.errors,
                "failures": tally.failures,
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
