"""Benchmark: manifest pulls of a cosign-signed image with the project's key policy on (every
pull checks that a signature verifies with a trusted key), beside the same image's pulls with
the policy off.

Two projects hold the same image (same layout and manifest size): one with
``enable_content_trust_cosign`` and a trusted ECDSA P-256 key, its image signed with that key
in cosign's legacy layout (``sha256-<hex>.sig``, made by ``tests/signatures/cosign_format.py``),
the other with no policy. A Guest (pull only: push rights would bypass the policy, as the
signer's) pulls the manifest by tag over N keep-alive connections with ``bench/loadgen.py``,
alternating policy on and off over several rounds. Reported: requests/s each way, the ratio
(on over off, medians) and the spread of each side's rounds. With the verdict cache a checked
pull costs about as much as an unchecked one; the first checked pull reads the signature from
the registry.

Entry points:

- ``measure(server, duration, rounds, connections=16)`` for ``bench/run.py`` (``server``: the
  run's ``tests.harness.Harborlite``, ``world.server``); returns ``{"on_rps": [...],
  "off_rps": [...], "ratio", ...}``.
- ``python bench/signed_pulls.py [--smoke]``: starts its own harborlite and prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from cases import loadgen  # noqa: E402

from tests.api.pushing import Pusher  # noqa: E402
from tests.signatures.cosign_format import (  # noqa: E402
    OCI_MANIFEST,
    cosign_pub,
    ecdsa_key,
    signature_tag,
    signed,
)

PASSWORD = "Passw0rd!x"
GUEST = 3
TAG = "v1"


def _ok(answer: Any, what: str) -> None:
    if answer.status_code not in (200, 201):
        raise RuntimeError(f"{what} answered {answer.status_code}: {answer.text[:300]}")


def prepare(server: Any) -> dict[str, str]:
    """The two projects, the image in each, the signature, the key; the guest's tokens."""
    stamp = time.time_ns() % 10**9
    on, off = f"signed-on-{stamp}", f"signed-off-{stamp}"
    guest = f"bench-guest-{stamp}"
    server.create_user(guest, PASSWORD)
    key = ecdsa_key()
    for project in (on, off):
        server.create_project(project)
        server.add_member(project, guest, GUEST)
    _ok(
        server.api(
            "POST",
            f"/projects/{on}/metadatas/",
            auth=server.admin,
            json={"enable_content_trust_cosign": "true"},
        ),
        "turning the policy on",
    )
    _ok(
        server.api(
            "POST",
            f"/projects/{on}/cosign-keys",
            auth=server.admin,
            json={"public_key": cosign_pub(key), "name": "bench"},
        ),
        "adding the key",
    )
    with Pusher(server) as pusher:
        pushed = {p: pusher.image(f"{p}/app", TAG, seed="bench-signed") for p in (on, off)}
        repository = f"{on}/app"
        image = signed(key, f"{server.host}/{repository}", pushed[on].digest)
        headers = pusher._headers(repository)
        for data in image.blobs.values():
            pusher.blob(repository, data, headers)
        pusher.manifest(
            repository, signature_tag(pushed[on].digest), image.manifest, OCI_MANIFEST, headers
        )
    if len(pushed[on].manifest) != len(pushed[off].manifest):
        raise RuntimeError("the two images differ in size: the comparison would not be fair")
    return {
        "on": f"{on}/app",
        "off": f"{off}/app",
        "on_token": server.token(f"repository:{on}/app:pull", (guest, PASSWORD)),
        "off_token": server.token(f"repository:{off}/app:pull", (guest, PASSWORD)),
    }


def _rate(server: Any, repository: str, token: str, connections: int, duration: float) -> float:
    """Pulls per second; a window too short for any answer (a busy machine, a smoke run's
    half second) is measured again, twice as long, before it counts as a failure."""
    for attempt in range(3):
        answer = loadgen(
            f"{server.url}/v2/{repository}/manifests/{TAG}",
            method="GET",
            headers=[f"Authorization: Bearer {token}", f"Accept: {OCI_MANIFEST}"],
            connections=connections,
            duration=duration * 2**attempt,
        )
        statuses = answer["statuses"]
        if isinstance(statuses, dict) and not statuses:
            continue  # nothing answered within the window
        if not isinstance(statuses, dict) or set(statuses) != {"200"}:
            raise RuntimeError(f"pulls of {repository} answered {statuses}")
        return float(answer["rps"])
    raise RuntimeError(f"pulls of {repository}: no answer within {duration * 4:g} s")


def measure(server: Any, duration: float, rounds: int, connections: int = 16) -> dict[str, Any]:
    setup = prepare(server)
    tokens = {"on": setup["on_token"], "off": setup["off_token"]}
    _rate(server, setup["on"], tokens["on"], 1, 0.2)  # the first verdict, then cached
    rates: dict[str, list[float]] = {"on": [], "off": []}
    for number in range(rounds):
        for side in ("on", "off") if number % 2 == 0 else ("off", "on"):
            rates[side].append(_rate(server, setup[side], tokens[side], connections, duration))
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    return {
        "on_rps": rates["on"],
        "off_rps": rates["off"],
        "median_on": on,
        "median_off": off,
        "ratio": on / off if off else 0.0,
        "spread_on": (min(rates["on"]), max(rates["on"])),
        "spread_off": (min(rates["off"]), max(rates["off"])),
        "connections": connections,
        "duration_s": duration,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="short cases, one round")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    from tests.harness import cleanup, start_harborlite

    server = start_harborlite()
    try:
        answer = measure(
            server,
            args.duration or (0.5 if args.smoke else 4.0),
            args.rounds or (1 if args.smoke else 3),
            args.connections,
        )
    finally:
        cleanup(server)
    print(json.dumps(answer, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
