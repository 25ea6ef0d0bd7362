"""A small HTTP/1.1 keep-alive load generator, run as its own process by ``bench/run.py``.

It sends the same request over N persistent connections for a fixed time and prints one JSON
line: requests/s, latency percentiles, status counts. Raw asyncio streams on uvloop: cheaper per
request than an HTTP client library, and it handles HEAD answers with a Content-Length (wrk 4.1
hangs on those, CLIENT-FACTS.md).

    python bench/loadgen.py --url http://127.0.0.1:5000/v2/p/r/manifests/latest \
        --method HEAD --header "Authorization: Bearer ..." --connections 16 --duration 5

With ``--vary N``, ``{n}`` in the URL takes the values 0 .. N-1 in turn over all connections
(the N requests are built before the clock starts): each request asks something else.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
from urllib.parse import urlsplit

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a harborlite dependency
    uvloop = None  # type: ignore[assignment]


def build_request(method: str, url: str, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += headers
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


TURNS = itertools.count()  # the requests sent, over all connections (--vary picks by it)


async def one_connection(
    host: str,
    port: int,
    requests: list[bytes],
    head: bool,
    counted_from: float,
    deadline: float,
    latencies: list[float],
    statuses: dict[int, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    try:
        while True:
            started = time.perf_counter()
            if started >= deadline:
                return
            turn = next(TURNS)
            writer.write(requests[turn % len(requests)])
            head_bytes = await reader.readuntil(b"\r\n\r\n")
            status = int(head_bytes[9:12])
            length = 0
            chunked = False
            for line in head_bytes.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                lowered = name.strip().lower()
                if lowered == b"content-length":
                    length = int(value)
                elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if not head and status not in (204, 304):
                if chunked:
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                        await reader.readexactly(size + 2)
                        if size == 0:
                            break
                elif length:
                    await reader.readexactly(length)
            elapsed = time.perf_counter() - started
            if started >= counted_from:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    host, port, _ = build_request(args.method, args.url, args.header)
    urls = [args.url.replace("{n}", str(n)) for n in range(args.vary)] if args.vary else [args.url]
    requests = [build_request(args.method, url, args.header)[2] for url in urls]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    # Requests started during the warm-up are not counted; the clock starts after it.
    counted_from = time.perf_counter() + args.warmup
    deadline = counted_from + args.duration
    tasks = [
        one_connection(
            host,
            port,
            requests,
            args.method == "HEAD",
            counted_from,
            deadline,
            latencies,
            statuses,
        )
        for _ in range(args.connections)
    ]
    errors = 0
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, BaseException):
            errors += 1
            print(f"loadgen: connection failed: {outcome!r}", file=sys.stderr)
    elapsed = time.perf_counter() - counted_from
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "requests": len(ordered),
        "seconds": elapsed,
        "rps": len(ordered) / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(ordered) * 1000 if ordered else float("nan"),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "connection_errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=0.3, help="seconds not counted")
    parser.add_argument("--vary", type=int, default=0, help="{n} in the URL takes N values")
    args = parser.parse_args()
    answer = uvloop.run(run(args)) if uvloop is not None else asyncio.run(run(args))
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
