"""Online guessing against a real harborlite, on loopback: 40 parallel clients get no more than
the allowed guesses through the token service and the REST API (401s, then 429 with
``Retry-After``), the audit log says so once, the right password waits too, and works again
after the window.

Each test guesses from a loopback address of its own (127.0.0.x as the client's source
address), so the per-address counts of one test do not touch another's. The servers are
dedicated ones: one with the default limits (5 per account, 20 per address, 300 s), one with a
short window.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.harness import Harborlite, cleanup, start_harborlite
from tests.support.processes import PostgresServer, RedisServer

PASSWORD = "Passw0rd!x"
TOKEN = "/service/token?service=harbor-registry"
CURRENT = "/api/v2.0/users/current"
THREADS = 40
TOTAL = 200  # guesses in one run, at most
SECONDS = 30.0  # and for at most this long: far inside the 300 s window


DEFAULTS = {  # said explicitly: the suite's shared servers may be given others
    "HARBORLITE_LOGIN_MAX_FAILURES": "5",
    "HARBORLITE_LOGIN_MAX_FAILURES_PER_ADDRESS": "20",
    "HARBORLITE_LOGIN_LOCKOUT_SECONDS": "300",
}


@pytest.fixture(scope="module")
def guarded(postgres: PostgresServer) -> Iterator[Harborlite]:
    """harborlite with the default limits, on PostgreSQL."""
    server = start_harborlite(postgres.create_database(), extra_env=DEFAULTS)
    try:
        yield server
    finally:
        cleanup(server)


@pytest.fixture(scope="module")
def brief() -> Iterator[Harborlite]:
    """harborlite whose lockout window is 3 seconds (3 failures per account)."""
    server = start_harborlite(
        extra_env={
            **DEFAULTS,
            "HARBORLITE_LOGIN_LOCKOUT_SECONDS": "3",
            "HARBORLITE_LOGIN_MAX_FAILURES": "3",
        }
    )
    try:
        yield server
    finally:
        cleanup(server)


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[tuple[Harborlite, Harborlite]]:
    """Two harborlite replicas sharing PostgreSQL and Redis."""
    with RedisServer(tmp_path_factory.mktemp("lockout-redis")) as redis_server:
        database = postgres.create_database()
        env = {**DEFAULTS, "HARBORLITE_REDIS_URL": redis_server.url}
        first = start_harborlite(database, env)
        try:
            second = start_harborlite(database, env)
            try:
                yield first, second
            finally:
                cleanup(second)
        finally:
            cleanup(first)


def client_from(server: Harborlite, address: str) -> httpx.Client:
    """A client whose requests come from ``address`` (a loopback address of the test's own)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.url, transport=transport, timeout=60)


@dataclass
class Run:
    statuses: Counter[int] = field(default_factory=Counter)
    refusals: list[httpx.Response] = field(default_factory=list)  # the 429s
    seconds: float = 0.0


def guessing_run(
    server: Harborlite | tuple[Harborlite, Harborlite],
    path: str,
    username: str,
    address: str,
    *,
    total: int = TOTAL,
) -> Run:
    """THREADS clients guessing ``username``'s password at once, ``total`` guesses at most,
    for SECONDS at most (half of them at each replica, given two)."""
    servers = server if isinstance(server, tuple) else (server,)
    run = Run()
    lock = threading.Lock()
    numbers = iter(range(total))
    start = threading.Barrier(THREADS)
    deadline = time.monotonic() + SECONDS

    def guesser(number: int) -> None:
        with client_from(servers[number % len(servers)], address) as client:
            start.wait()
            while time.monotonic() < deadline:
                with lock:
                    n = next(numbers, None)
                if n is None:
                    return
                answer = client.get(path, auth=(username, f"Guess{n:04d}x"))
                with lock:
                    run.statuses[answer.status_code] += 1
                    if answer.status_code == 429:
                        run.refusals.append(answer)

    began = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(guesser, range(THREADS)))
    run.seconds = time.monotonic() - began
    return run


def lockout_entries(server: Harborlite, username: str) -> list[dict[str, Any]]:
    answer = server.api(
        "GET",
        "/audit-logs",
        auth=server.admin,
        params={"q": f"username={username},operation=login", "page_size": 100},
    )
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()
    return entries


def assert_capped(run: Run, server: Harborlite, username: str, allowed: int = 5) -> None:
    assert run.statuses[401] == allowed, run.statuses
    assert run.statuses[429] == TOTAL - allowed, run.statuses
    assert run.seconds < SECONDS, run.seconds
    for refusal in run.refusals:
        assert 1 <= int(refusal.headers["Retry-After"]) <= 300
        [error] = refusal.json()["errors"]
        assert error["code"] == "TOO_MANY_REQUESTS"
        assert error["message"].startswith("too many failed logins: try again in ")
    entries = lockout_entries(server, username)
    assert all(not entry["success"] for entry in entries)
    details = [entry["detail"] for entry in entries]
    assert details.count(f"locked out for 300 s after {allowed} failures") == 1, details
    assert sum(detail.startswith("invalid username/password") for detail in details) == allowed


def test_parallel_guessing_at_the_token_service_is_capped(guarded: Harborlite) -> None:
    victim = guarded.unique("tokenvictim")
    colleague = guarded.unique("colleague")
    guarded.create_user(victim, PASSWORD)
    guarded.create_user(colleague, PASSWORD)
    here = "127.0.0.21"
    run = guessing_run(guarded, TOKEN, victim, here)
    assert_capped(run, guarded, victim)
    with client_from(guarded, here) as client:
        # the right password is refused too, from here and from anywhere
        assert client.get(TOKEN, auth=(victim, PASSWORD)).status_code == 429
        # the address is not locked out for another account
        assert client.get(TOKEN, auth=(colleague, PASSWORD)).status_code == 200
    with client_from(guarded, "127.0.0.22") as elsewhere:
        refused = elsewhere.get(TOKEN, auth=(victim, PASSWORD))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) <= 300
        # the same account at the REST API: the same lockout
        assert elsewhere.get(CURRENT, auth=(victim, PASSWORD)).status_code == 429


def test_parallel_guessing_at_the_rest_api_is_capped(guarded: Harborlite) -> None:
    victim = guarded.unique("apivictim")
    guarded.create_user(victim, PASSWORD)
    here = "127.0.0.23"
    run = guessing_run(guarded, CURRENT, victim, here)
    assert_capped(run, guarded, victim)
    with client_from(guarded, here) as client:
        assert client.get(CURRENT, auth=(victim, PASSWORD)).status_code == 429
        assert client.get(TOKEN, auth=(victim, PASSWORD)).status_code == 429
        assert client.get(CURRENT, auth=guarded.admin).status_code == 200


def test_a_name_that_is_nobody_locks_out_the_same_way(guarded: Harborlite) -> None:
    """Nothing tells a real account from a name that is nobody's."""
    run = guessing_run(guarded, CURRENT, guarded.unique("nobody"), "127.0.0.24", total=60)
    assert (run.statuses[401], run.statuses[429]) == (5, 55)


def test_spraying_one_address_across_accounts_locks_the_address(guarded: Harborlite) -> None:
    names = [guarded.unique("sprayed") for _ in range(8)]
    for name in names:
        guarded.create_user(name, PASSWORD)
    here = "127.0.0.25"
    statuses = []
    with client_from(guarded, here) as client:
        for round_ in range(3):  # three common passwords, every account: under 5 each
            for name in names:
                statuses.append(client.get(CURRENT, auth=(name, f"Summer202{round_}")).status_code)
        assert statuses == [401] * 20 + [429] * 4
        assert client.get(CURRENT, auth=(names[0], PASSWORD)).status_code == 429
    with client_from(guarded, "127.0.0.26") as elsewhere:
        assert elsewhere.get(CURRENT, auth=(names[0], PASSWORD)).status_code == 200
    details = [entry["detail"] for name in names for entry in lockout_entries(guarded, name)]
    assert details.count(f"address {here} locked out for 300 s after 20 failures") == 1


def test_a_person_mistyping_then_right_is_forgiven(guarded: Harborlite) -> None:
    person = guarded.unique("typist")
    guarded.create_user(person, PASSWORD)
    with client_from(guarded, "127.0.0.27") as client:
        for _ in range(3):
            for n in range(4):
                assert client.get(CURRENT, auth=(person, f"Typo{n}xx")).status_code == 401
            assert client.get(CURRENT, auth=(person, PASSWORD)).status_code == 200


def test_the_right_password_works_again_after_the_window(brief: Harborlite) -> None:
    victim = brief.unique("waiter")
    brief.create_user(victim, PASSWORD)
    with client_from(brief, "127.0.0.28") as client:
        statuses = [client.get(TOKEN, auth=(victim, f"Guess{n}xx")).status_code for n in range(4)]
        assert statuses == [401, 401, 401, 429]
        refused = client.get(TOKEN, auth=(victim, PASSWORD))
        assert refused.status_code == 429
        assert client.get(CURRENT, auth=(victim, PASSWORD)).status_code == 429
        time.sleep(int(refused.headers["Retry-After"]) + 0.2)
        assert client.get(TOKEN, auth=(victim, PASSWORD)).status_code == 200
        assert client.get(CURRENT, auth=(victim, PASSWORD)).status_code == 200
    details = [entry["detail"] for entry in lockout_entries(brief, victim)]
    assert details.count("locked out for 3 s after 3 failures") == 1


def test_replicas_share_the_count_through_redis(replicas: tuple[Harborlite, Harborlite]) -> None:
    first = replicas[0]
    victim = first.unique("replicavictim")
    first.create_user(victim, PASSWORD)
    run = guessing_run(replicas, TOKEN, victim, "127.0.0.29")
    assert_capped(run, first, victim)
    for replica in replicas:
        with client_from(replica, "127.0.0.30") as client:
            assert client.get(TOKEN, auth=(victim, PASSWORD)).status_code == 429
            assert client.get(CURRENT, auth=(victim, PASSWORD)).status_code == 429
            assert client.get(CURRENT, auth=replica.admin).status_code == 200
