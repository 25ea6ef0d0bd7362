"""Concurrent misses of one manifest are asked of the registry once (single flight).

A thousand pullers of one tag whose cache entry is missing (never pulled here, or expired)
used to go to the registry together, and past the per-client budget most of them got a 429.
Now the first asks for everyone and the others wait for its answer. Real server, real registry:
the registry is frozen (SIGSTOP) while the requests pile up, so they all miss at once."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.pushing import OCI_MANIFEST, Pusher
from tests.e2e.test_fast_path import registry_paused
from tests.harness import Harborlite, own_harborlite

BUDGET = 2  # requests of one client with the registry at once
PULLERS = 40


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite(extra_env={"HARBORLITE_MAX_PROXIED_PER_CLIENT": str(BUDGET)})


def cold_tag(server: Harborlite, project: str) -> tuple[str, str, str]:
    """A tag the registry has and harborlite's cache never heard of: pushed through
    harborlite under one tag, then tagged again on the registry's own port."""
    repository = f"{project}/app"
    with Pusher(server) as pusher:
        pushed = pusher.image(repository, "v1")
        token = pusher._headers(repository)["Authorization"]
    again = httpx.put(
        f"{server.registry_url()}/v2/{repository}/manifests/cold",
        content=pushed.manifest,
        headers={"Authorization": token, "Content-Type": OCI_MANIFEST},
    )
    assert again.status_code == 201, again.text
    return repository, token, pushed.digest


def pull_all(server: Harborlite, path: str, token: str, count: int) -> list[httpx.Response]:
    headers = {"Authorization": token, "Accept": OCI_MANIFEST}

    def one(index: int) -> httpx.Response:
        rid = {"X-Request-Id": f"flight-{index}-{path.rsplit('/', 1)[1]}"}
        return httpx.get(server.url + path, headers={**headers, **rid}, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(one, i) for i in range(count)]
        return [f.result() for f in futures]


def access_lines(server: Harborlite, path: str) -> list[str]:
    return [
        line
        for line in server.log().splitlines()
        if "harborlite.access" in line and f"GET {path} " in line
    ]


def test_concurrent_misses_ask_the_registry_once(server: Harborlite) -> None:
    project = server.unique("flight")
    server.create_project(project)
    repository, token, digest = cold_tag(server, project)
    path = f"/v2/{repository}/manifests/cold"
    with concurrent.futures.ThreadPoolExecutor(1) as side:
        with registry_paused(server):
            pulls = side.submit(pull_all, server, path, token, PULLERS)
            time.sleep(2.0)  # every request is in by now, the first one's fetch frozen
        answers = pulls.result()
    assert [a.status_code for a in answers] == [200] * PULLERS, [
        (a.status_code, a.text[:200]) for a in answers if a.status_code != 200
    ]
    assert {a.headers["Docker-Content-Digest"] for a in answers} == {digest}
    lines = access_lines(server, path)
    assert len(lines) == PULLERS
    assert sum("via=proxy" in line for line in lines) == 1, lines
    assert sum("via=cache" in line for line in lines) == PULLERS - 1, lines


def test_an_unknown_tag_is_refused_as_the_registry_does_every_time(server: Harborlite) -> None:
    project = server.unique("flight")
    server.create_project(project)
    repository, token, _ = cold_tag(server, project)
    path = f"/v2/{repository}/manifests/never-pushed"
    for _ in range(3):
        answer = httpx.get(
            server.url + path, headers={"Authorization": token, "Accept": OCI_MANIFEST}
        )
        assert answer.status_code == 404
        assert answer.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_over_budget_the_first_of_a_client_still_gets_429(server: Harborlite) -> None:
    """The fetch for everyone is counted against the client who asked first: with its budget
    full of other registry requests (fetches of other tags, frozen), it is refused as before."""
    project = server.unique("flight")
    server.create_project(project)
    repository, token, _ = cold_tag(server, project)
    path = f"/v2/{repository}/manifests/cold"
    headers = {"Authorization": token, "Accept": OCI_MANIFEST}
    with concurrent.futures.ThreadPoolExecutor(BUDGET) as pool:
        with registry_paused(server):
            held = [  # each the first of its tag: with the registry, which is frozen
                pool.submit(
                    httpx.get,
                    f"{server.url}/v2/{repository}/manifests/other-{i}",
                    headers=headers,
                    timeout=30,
                )
                for i in range(BUDGET)
            ]
            time.sleep(1.5)
            refused = httpx.get(server.url + path, headers=headers, timeout=30)
        for future in held:
            assert future.result().status_code == 404
    assert refused.status_code == 429, refused.text
    assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    again = httpx.get(server.url + path, headers=headers, timeout=30)
    assert again.status_code == 200, again.text
