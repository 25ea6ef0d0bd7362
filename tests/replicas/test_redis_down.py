"""Redis killed under two replicas: pushes and pulls through both keep working, health says
Redis is down, the lockout still counts across the replicas (from the audit log: it fails
closed, not open), and all is well again once Redis is back, without a restart."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import Harborlite
from tests.replicas.conftest import (
    MAX_FAILURES,
    PASSWORD,
    Cluster,
    start_cluster,
    token_status,
    until,
)
from tests.support.clients import skopeo_copy
from tests.support.images import build_oci_layout
from tests.support.processes import PostgresServer


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[Cluster]:
    """A cluster of this module's own: its test kills Redis."""
    folder = tmp_path_factory.mktemp("redis-down")
    yield from start_cluster(folder, postgres.create_database())


def _health(server: Harborlite) -> tuple[str, dict[str, str]]:
    answer = httpx.get(f"{server.url}/api/v2.0/health", timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["status"], {c["name"]: c["status"] for c in body["components"]}


def _push_and_pull(cluster: Cluster, project: str, tag: str, seed: int, tmp: Path) -> None:
    """Push through one replica, pull through the other, and the other way round."""
    for number, (pusher, puller) in enumerate([cluster.both, cluster.both[::-1]]):
        layout = tmp / f"layout-{tag}-{number}"
        build_oci_layout(layout, tag, [4096], seed=seed + number)
        reference = f"{project}/app:{tag}-{number}"
        skopeo_copy(
            f"oci:{layout}:{tag}", f"docker://{pusher.host}/{reference}", creds=pusher.admin
        )
        skopeo_copy(
            f"docker://{puller.host}/{reference}",
            f"oci:{tmp / f'pulled-{tag}-{number}'}:{tag}",
            creds=puller.admin,
        )


def _guesses_at_once(cluster: Cluster, name: str, count: int) -> list[int]:
    statuses: list[int] = []
    barrier = threading.Barrier(count)

    def guess(server: Harborlite, password: str) -> None:
        barrier.wait()
        statuses.append(token_status(server, (name, password)))

    # each a different guess (identical attempts at one moment share one check)
    threads = [
        threading.Thread(target=guess, args=(cluster.both[n % 2], f"Wrong-pass{n}"))
        for n in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_redis_down_then_back(cluster: Cluster, tmp_path: Path) -> None:
    first, second = cluster.both
    project = first.unique("down")
    first.create_project(project)
    _push_and_pull(cluster, project, "before", 31, tmp_path)
    for server in cluster.both:
        assert _health(server) == (
            "healthy",
            {"core": "healthy", "database": "healthy", "registry": "healthy", "redis": "healthy"},
        )

    cluster.redis.stop()
    try:
        for server in cluster.both:  # Harbor's answer: one component down, all unhealthy
            status, components = _health(server)
            assert status == "unhealthy" and components["redis"] == "unhealthy"
            assert components["database"] == components["registry"] == "healthy"
        _push_and_pull(cluster, project, "during", 41, tmp_path)

        # wrong passwords spread over both replicas: one count, the account locks
        name = first.unique("flood")
        first.create_user(name, PASSWORD)
        replicas = [first, second, first]
        assert [token_status(r, (name, "Wrong-pass1")) for r in replicas[:MAX_FAILURES]] == [
            401
        ] * MAX_FAILURES
        for server in cluster.both:
            assert token_status(server, (name, PASSWORD)) == 429  # the right one too
            api = server.api("GET", "/users/current", auth=(name, PASSWORD))
            assert api.status_code == 429 and api.json()["errors"][0]["code"]

        # a flood at once: each replica checks at most its share, then all are refused
        flooded = first.unique("flood")
        first.create_user(flooded, PASSWORD)
        statuses = _guesses_at_once(cluster, flooded, 30)
        assert set(statuses) <= {401, 429}, statuses
        assert statuses.count(401) <= 2 * MAX_FAILURES, statuses
        for server in cluster.both:
            assert token_status(server, (flooded, PASSWORD)) == 429
    finally:
        cluster.redis.start()

    # back: healthy, and the counts are Redis's again (shared, and no audit log needed)
    for server in cluster.both:
        until(lambda s=server: _health(s)[0] == "healthy", 10)
    _push_and_pull(cluster, project, "after", 51, tmp_path)
    name = first.unique("after")
    first.create_user(name, PASSWORD)
    for server in [second, first, second][:MAX_FAILURES]:
        assert token_status(server, (name, "Wrong-pass1")) == 401
    assert token_status(first, (name, PASSWORD)) == 429
    assert "login lockout counted from the audit log" in first.log() + second.log()
