"""Background jobs, end to end, with garbage collection as the job: a job survives a restart of
harborlite (stopped cleanly, or killed while it ran), a schedule missed while harborlite was
down fires once when it is back, two replicas on one PostgreSQL run each execution exactly
once and each due time of a schedule once, and a pending or running execution can be
stopped."""

from __future__ import annotations

import itertools
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_gc_load import blob_data, plant_garbage, start_gc
from tests.harness import Harborlite, cleanup, start_harborlite
from tests.support.processes import PostgresServer

STARTED = re.compile(r"started on replica ([0-9a-f]+)")
DONE = ("Success", "Error", "Stopped")


def _shown(server: Harborlite, execution: int) -> dict[str, Any]:
    answer = server.api("GET", f"/system/gc/{execution}", auth=server.admin)
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    shown["log"] = server.api("GET", f"/system/gc/{execution}/log", auth=server.admin).text
    return shown


def _until(server: Harborlite, execution: int, statuses: tuple[str, ...], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        shown = _shown(server, execution)
        if shown["job_status"] in statuses:
            return shown
        assert time.monotonic() < deadline, (statuses, shown)
        time.sleep(0.05)


def _history(server: Harborlite) -> list[dict[str, Any]]:
    answer = server.api("GET", "/system/gc", auth=server.admin, params={"page_size": 100})
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()
    return rows


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _id(path: str) -> int:
    return int(path.rsplit("/", 1)[1])


def _schedule(server: Harborlite, schedule: dict[str, str], **parameters: Any) -> None:
    answer = server.api(
        "PUT",
        "/system/gc/schedule",
        auth=server.admin,
        json={"schedule": schedule, "parameters": {"delete_untagged": False, **parameters}},
    )
    assert answer.status_code == 200, answer.text


def _restart(server: Harborlite, extra: dict[str, str] | None = None) -> Harborlite:
    database = None if server.database_url == "sqlite" else server.database_url
    return start_harborlite(database, extra, data_dir=server.data_dir)


@pytest.fixture
def lone(tmp_path: Path) -> Iterator[list[Harborlite]]:
    """A harborlite on SQLite whose data folder outlives its restarts (the list holds the
    current process; the test appends each restart)."""
    (tmp_path / "data").mkdir()
    servers = [start_harborlite(data_dir=tmp_path / "data")]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp_path / "data", ignore_errors=True)


def _status_in_database(server: Harborlite, execution: int) -> tuple[str, int]:
    with sqlite3.connect(server.data_dir / "harborlite.db") as db:
        row = db.execute(
            "SELECT status, attempts FROM job_executions WHERE id = ?", (execution,)
        ).fetchone()
    return str(row[0]), int(row[1])


def test_a_job_and_a_schedule_survive_a_restart(lone: list[Harborlite]) -> None:
    """Stopped while a collection runs, harborlite hands it back: pending in the database
    while nothing runs, it runs to the end after the restart. A schedule due while harborlite
    was down fires once, not once per missed time."""
    server = lone[0]
    due = (datetime.now(UTC) + timedelta(seconds=12)).replace(microsecond=0)
    _schedule(server, {"type": "Custom", "cron": f"{due.second} {due.minute} {due.hour} * * *"})
    path = start_gc(server, {"delete_untagged": False})
    assert path is not None
    execution = _id(path)
    _until(server, execution, ("Running",), 10)  # in its first step (the fence delay)
    assert server.stop() == 0
    assert _status_in_database(server, execution) == ("Pending", 1)
    assert datetime.now(UTC) < due, "harborlite took too long to stop"
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 2.5)

    server = _restart(server)
    lone.append(server)
    done = _until(server, execution, DONE, 60)
    assert done["job_status"] == "Success", done["log"]
    assert "harborlite stopped while it ran: it will run again" in done["log"]
    assert len(STARTED.findall(done["log"])) == 2  # once before the restart, once after
    assert _status_in_database(server, execution) == ("Success", 2)

    deadline = time.monotonic() + 30
    while not [r for r in _history(server) if r["job_kind"] == "SCHEDULE"]:
        assert time.monotonic() < deadline, "the missed schedule did not fire"
        time.sleep(0.2)
    time.sleep(2.0)  # another tick or two: it must not fire again
    fired = [r for r in _history(server) if r["job_kind"] == "SCHEDULE"]
    assert len(fired) == 1, fired
    scheduled = _until(server, fired[0]["id"], DONE, 60)
    assert scheduled["job_status"] == "Success", scheduled["log"]
    assert "scheduled (Custom)" in scheduled["log"]
    shown = server.api("GET", "/system/gc/schedule", auth=server.admin).json()
    next_time = datetime.fromisoformat(
        shown["schedule"]["next_scheduled_time"].replace("Z", "+00:00")
    )
    assert next_time - due == timedelta(days=1), shown  # moved on to the next due time


def test_a_job_left_running_by_a_killed_harborlite_runs_again(lone: list[Harborlite]) -> None:
    """SIGKILL: nothing is handed back, the execution stays Running with a heartbeat that no
    longer moves; after the restart the runner finds it orphaned and runs it again."""
    server = lone[0]
    path = start_gc(server, {"delete_untagged": False})
    assert path is not None
    execution = _id(path)
    _until(server, execution, ("Running",), 10)
    server.process.kill()
    server.process.wait()
    assert _status_in_database(server, execution) == ("Running", 1)
    time.sleep(1.0)  # the registry child follows its parent (PR_SET_PDEATHSIG)

    server = _restart(server)
    lone.append(server)
    done = _until(server, execution, DONE, 90)  # orphaned after 20 s without a heartbeat
    assert done["job_status"] == "Success", done["log"]
    assert "its replica stopped answering: it will run again" in done["log"]
    # the killed attempt's own lines were still in its memory (written with each heartbeat)
    assert len(STARTED.findall(done["log"].split("it will run again", 1)[1])) == 1
    assert _status_in_database(server, execution) == ("Success", 2)


def test_stopping_a_pending_and_a_running_execution(lone: list[Harborlite]) -> None:
    """A schedule every second with collections lasting longer: each replica runs two at a
    time, so the next ones wait (pending). Stopping one that waits ends it at once; stopping a
    running one ends it at its next step; a finished one cannot be stopped."""
    server = lone[0]
    _schedule(server, {"type": "Custom", "cron": "* * * * * *"})
    try:
        deadline = time.monotonic() + 30
        # stop executions seen pending or running until one was stopped before it started and
        # one while it ran: on a loaded machine one seen pending may have started before the
        # stop reached it, and one seen running may have finished (412); the schedule makes
        # another every second
        stopped: set[int] = set()
        before_start: dict[str, Any] | None = None
        while_running: dict[str, Any] | None = None
        while before_start is None or while_running is None:
            assert time.monotonic() < deadline, _history(server)
            for row in _history(server):
                if row["job_status"] not in ("Pending", "Running") or row["id"] in stopped:
                    continue
                answer = server.api("PUT", f"/system/gc/{row['id']}", auth=server.admin)
                if answer.status_code == 200:
                    stopped.add(row["id"])
                else:
                    assert answer.status_code == 412, answer.text
            for execution in stopped:
                shown = _shown(server, execution)
                if shown["job_status"] not in DONE:
                    continue
                assert shown["job_status"] == "Stopped", shown["log"]
                if "stopped before it started" in shown["log"]:
                    assert not STARTED.search(shown["log"])
                    before_start = shown
                elif STARTED.search(shown["log"]):
                    while_running = shown
            time.sleep(0.05)
        # a manual run while one runs is refused (one that ended just before is not: try again)
        while True:
            assert time.monotonic() < deadline + 30, _history(server)
            if not any(r["job_status"] == "Running" for r in _history(server)):
                time.sleep(0.05)
                continue
            busy = server.api(
                "POST",
                "/system/gc/schedule",
                auth=server.admin,
                json={"schedule": {"type": "Manual"}},
            )
            if busy.status_code == 412:
                break
            assert busy.status_code == 201, busy.text
        assert busy.json()["errors"][0]["message"] == "a gc job is already running"
    finally:
        _schedule(server, {"type": "None"})
    for row in _history(server):
        _until(server, row["id"], DONE, 60)
    finished = _history(server)[0]
    again = server.api("PUT", f"/system/gc/{finished['id']}", auth=server.admin)
    assert again.status_code == 412, again.text
    assert f"execution {finished['id']} is {finished['job_status']}" in again.text
    assert server.api("PUT", "/system/gc/999999", auth=server.admin).status_code == 404


@pytest.fixture
def replicas(tmp_path: Path, postgres: PostgresServer) -> Iterator[tuple[Harborlite, Harborlite]]:
    """Two replicas on one PostgreSQL and one registry (the first's), both able to collect
    (the second is given the registry's storage), with no time window."""
    database = postgres.create_database()
    env = {"HARBORLITE_GC_TIME_WINDOW_MINUTES": "0"}
    first = start_harborlite(database, env)
    second = None
    try:
        second_dir = tmp_path / "second"
        second_dir.mkdir()
        for name in ("token.key", "token.crt"):  # the key the registry trusts
            shutil.copy2(first.data_dir / name, second_dir / name)
        second = start_harborlite(
            database,
            {
                **env,
                "HARBORLITE_REGISTRY_URL": first.registry_url(),
                "HARBORLITE_REGISTRY_STORAGE": str(first.data_dir / "registry"),
            },
            data_dir=second_dir,
        )
        yield first, second
    finally:
        if second is not None:
            cleanup(second)
        cleanup(first)


def _ask_at_once(*servers: Harborlite) -> list[int]:
    """POST a manual collection to every server at the same moment; the statuses."""
    barrier = threading.Barrier(len(servers))
    answers: list[int] = []

    def ask(server: Harborlite) -> None:
        barrier.wait()
        answer = server.api(
            "POST",
            "/system/gc/schedule",
            auth=server.admin,
            json={"schedule": {"type": "Manual"}, "parameters": {"delete_untagged": False}},
        )
        answers.append(answer.status_code)

    threads = [threading.Thread(target=ask, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _replica_of(log: str) -> str:
    found = STARTED.findall(log)
    assert len(found) == 1, log  # started once, by one replica
    return str(found[0])


def test_two_replicas_run_a_manual_gc_exactly_once(replicas: tuple[Harborlite, Harborlite]) -> None:
    first, second = replicas
    owners = []
    for number in range(4):
        asked, other = (first, second) if number % 2 == 0 else (second, first)
        garbage = plant_garbage(first, 50, seed=900 + number)
        path = start_gc(asked, {"delete_untagged": False, "workers": 2})
        assert path is not None
        done = _until(other, _id(path), DONE, 60)  # the other replica shows the same row
        assert done["job_status"] == "Success", done["log"]
        owners.append(_replica_of(done["log"]))
        assert f"deleted {len(garbage)} blobs" in done["log"], done["log"]
        assert not any(blob_data(first, d).exists() for d in garbage)
    assert len(_history(first)) == len(_history(second)) == 4
    assert len(set(owners)) <= 2


def test_two_replicas_asked_at_once_start_one_collection(
    replicas: tuple[Harborlite, Harborlite],
) -> None:
    """Both replicas asked for a collection at the same moment: one runs, the other asker is
    told one runs already (two at once would mark the same blobs: the second fails)."""
    first, second = replicas
    for round_number in range(6):
        plant_garbage(first, 100, seed=920 + round_number)
        answers = _ask_at_once(first, second)
        ended = [_until(first, row["id"], DONE, 90) for row in _history(first)]
        assert sorted(answers) == [201, 412], (answers, [e["log"][-1500:] for e in ended])
        assert all(e["job_status"] == "Success" for e in ended), ended
    for row in _history(first):
        _replica_of(_shown(first, row["id"])["log"])


def test_two_replicas_fire_a_schedule_once_per_due_time(
    replicas: tuple[Harborlite, Harborlite],
) -> None:
    first, second = replicas
    _schedule(first, {"type": "Custom", "cron": "*/3 * * * * *"}, workers=2)
    started = datetime.now(UTC)
    time.sleep(13.5)
    _schedule(second, {"type": "None"})
    ended = datetime.now(UTC)
    rows = [r for r in _history(second) if r["job_kind"] == "SCHEDULE"]
    due_times = []
    moment = started.replace(microsecond=0) + timedelta(seconds=1)
    while moment <= ended:
        if moment.second % 3 == 0:
            due_times.append(moment)
        moment += timedelta(seconds=1)
    # each due time once (the last may have been cancelled with the schedule just before)
    assert len(due_times) - 1 <= len(rows) <= len(due_times), (due_times, rows)
    created = sorted(_time(r["creation_time"]) for r in rows)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(created)]
    assert all(gap > 1.0 for gap in gaps), gaps  # never two for one due time (3 s apart)
    owners = set()
    for row in rows:
        done = _until(first, row["id"], DONE, 90)
        assert done["job_status"] == "Success", done["log"]
        assert "scheduled (Custom)" in done["log"]
        owners.add(_replica_of(done["log"]))
    assert 1 <= len(owners) <= 2
    print(f"\n{len(rows)} scheduled runs for {len(due_times)} due times, on {len(owners)} replicas")


def test_a_scheduled_collection_due_while_one_runs_does_not_fail(
    replicas: tuple[Harborlite, Harborlite],
) -> None:
    """A schedule every 2 s, each run with garbage to sweep for longer than that: a run due
    while the last still sweeps must not fail (wait, or be skipped), nor sweep twice."""
    first, second = replicas
    for number in range(3):
        plant_garbage(first, 300, seed=960 + number)
    _schedule(first, {"type": "Custom", "cron": "*/2 * * * * *"})
    time.sleep(7)
    _schedule(second, {"type": "None"})
    ended = [_until(first, row["id"], DONE, 120) for row in _history(first)]
    assert len(ended) >= 2
    failed = [e for e in ended if e["job_status"] != "Success"]
    assert not failed, failed[0]["log"][-1500:]
