"""The job runner on a real database (SQLite and PostgreSQL), in this process: several runners
on one database stand for replicas. Each execution is claimed once; a due schedule fires once
across runners, however many due times were missed; a runner that dies leaves an orphan that
is handed back, and failed with the reason after MAX_ATTEMPTS; stopping, failing, and kinds
a replica does not know."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import JobExecution, JobSchedule, utcnow
from harborlite.errors import PreconditionFailed
from harborlite.jobs import operations, runner
from harborlite.jobs.runner import Handler, JobContext, JobRunner
from tests.support.processes import PostgresServer

Sessions = async_sessionmaker[AsyncSession]
KIND = "test"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return postgres.create_database()


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[Callable[[], Sessions]]:
    """Sessions on one database, one engine per call (a replica's own connection pool)."""
    engines: list[AsyncEngine] = []

    def replica() -> Sessions:
        engine = make_engine(database_url)
        engines.append(engine)
        return make_sessionmaker(engine)

    first = make_engine(database_url)
    engines.append(first)
    await migrate(first)
    try:
        yield replica
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Heartbeats every 0.1 s, orphans after 0.5 s without one."""
    monkeypatch.setattr(runner, "HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr(runner, "ORPHANED_SECONDS", 0.5)


async def _add(
    sessions: Sessions, kind: str = KIND, count: int = 1, *, refs: bool = False
) -> list[int]:
    """``count`` pending executions; ``refs``: each of a job of its own (a ref each), else all
    of one job, which runs one execution at a time."""
    async with sessions() as session:
        rows = [
            JobExecution(kind=kind, parameters={"n": n}, ref=f"r{n}" if refs else "system")
            for n in range(count)
        ]
        session.add_all(rows)
        await session.commit()
        return [row.id for row in rows]


async def _get(sessions: Sessions, execution_id: int) -> JobExecution:
    async with sessions() as session:
        execution = await session.get(JobExecution, execution_id)
        assert execution is not None
        return execution


async def _until(
    sessions: Sessions, execution_id: int, statuses: tuple[str, ...], timeout: float = 10
) -> JobExecution:
    deadline = time.monotonic() + timeout
    while True:
        execution = await _get(sessions, execution_id)
        if execution.status in statuses:
            return execution
        assert time.monotonic() < deadline, (statuses, execution.status, execution.log)
        await asyncio.sleep(0.02)


async def _drain(*runners: JobRunner) -> None:
    """Let every runner's started jobs finish."""
    for each in runners:
        while each._running:
            await asyncio.gather(*each._running.values(), return_exceptions=True)


def _runner(sessions: Sessions, handler: Handler, kind: str = KIND) -> JobRunner:
    return JobRunner(sessions, {kind: handler})


async def test_each_pending_execution_runs_on_exactly_one_replica(
    replicas: Callable[[], Sessions],
) -> None:
    ran: list[tuple[str, int]] = []

    def handler_of(name: str) -> Handler:
        async def handler(context: JobContext) -> None:
            ran.append((name, context.execution_id))
            await asyncio.sleep(0.01)

        return handler

    runners = [_runner(replicas(), handler_of(f"r{n}")) for n in range(3)]
    ids = await _add(runners[0].sessions, count=12)
    for _ in range(10):  # every replica ticks at the same moment, again and again
        await asyncio.gather(*(each.step() for each in runners))
        await asyncio.sleep(0.02)
    await _drain(*runners)
    assert sorted(execution for _, execution in ran) == ids  # each once, none missed
    for execution_id in ids:
        execution = await _get(runners[0].sessions, execution_id)
        assert (execution.status, execution.attempts, execution.progress) == ("Success", 1, 100)
        assert execution.owner == next(
            each.replica
            for name, each in zip(("r0", "r1", "r2"), runners, strict=True)
            if (name, execution_id) in ran
        )
        assert execution.log.count("started on replica") == 1
        assert execution.start_time is not None and execution.end_time is not None


async def test_a_replica_runs_at_most_max_running_at_once(
    replicas: Callable[[], Sessions],
) -> None:
    release = asyncio.Event()

    async def handler(context: JobContext) -> None:
        await release.wait()

    sessions = replicas()
    one = _runner(sessions, handler)
    ids = await _add(sessions, count=runner.MAX_RUNNING + 2, refs=True)
    await one.step()
    await one.step()
    statuses = [(await _get(sessions, i)).status for i in ids]
    assert statuses.count("Running") == runner.MAX_RUNNING
    assert statuses.count("Pending") == 2
    release.set()
    await _drain(one)


async def test_a_due_schedule_fires_once_across_replicas_and_moves_on(
    replicas: Callable[[], Sessions],
) -> None:
    """Missed for two days (harborlite was down): one execution, not one per missed day;
    the next is tomorrow's."""
    sessions = replicas()
    async with sessions() as session:
        session.add(
            JobSchedule(
                kind=KIND,
                schedule_type="Daily",
                cron="0 0 0 * * *",
                parameters={"dry_run": True},
                next_run=utcnow() - timedelta(days=2),
            )
        )
        await session.commit()
    runners = [JobRunner(replicas(), {}) for _ in range(4)]  # none runs it: it stays pending
    await asyncio.gather(*(each.step() for each in runners))
    async with sessions() as session:
        executions = (await session.execute(select(JobExecution))).scalars().all()
        schedule = (await session.execute(select(JobSchedule))).scalar_one()
    assert len(executions) == 1
    fired = executions[0]
    assert (fired.kind, fired.trigger, fired.status) == (KIND, "SCHEDULE", "Pending")
    assert fired.parameters == {"dry_run": True}
    assert "scheduled (Daily)" in fired.log
    assert schedule.next_run is not None
    assert timedelta(0) < schedule.next_run - utcnow() <= timedelta(days=1)
    assert (schedule.next_run.hour, schedule.next_run.minute, schedule.next_run.second) == (0, 0, 0)
    await asyncio.gather(*(each.step() for each in runners))  # not due again yet
    async with sessions() as session:
        count = (await session.execute(select(func.count()).select_from(JobExecution))).scalar()
    assert count == 1


async def test_a_schedule_every_second_fires_once_per_second_with_replicas(
    replicas: Callable[[], Sessions],
) -> None:
    sessions = replicas()
    async with sessions() as session:
        await operations.set_schedule(session, KIND, "Custom", "* * * * * *", {})
        await session.commit()
    runners = [JobRunner(replicas(), {}) for _ in range(3)]
    started = time.monotonic()
    while time.monotonic() - started < 3.2:
        await asyncio.gather(*(each.step() for each in runners))
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    async with sessions() as session:
        fired = (await session.execute(select(func.count()).select_from(JobExecution))).scalar()
    # one per second that came due (a late tick may skip one; three replicas never triple it)
    assert fired is not None and 2 <= fired <= int(elapsed) + 1, (fired, elapsed)


async def _claim_and_kill(sessions: Sessions, execution_id: int) -> str:
    """A fresh replica claims the execution, then dies as under SIGKILL: its job is cancelled
    and nothing hands it back (the row stays Running, its heartbeat stops)."""

    async def forever(context: JobContext) -> None:
        await asyncio.Event().wait()

    dying = _runner(sessions, forever)
    await dying.step()
    claimed = await _get(sessions, execution_id)
    assert (claimed.status, claimed.owner) == ("Running", dying.replica)
    for task in list(dying._running.values()):
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert (await _get(sessions, execution_id)).status == "Running"
    return dying.replica


@pytest.mark.usefixtures("fast")
async def test_an_orphan_is_handed_back_then_failed_with_the_reason_after_max_attempts(
    replicas: Callable[[], Sessions],
) -> None:
    sessions = replicas()
    (execution_id,) = await _add(sessions)
    owners = []
    for attempt in range(1, runner.MAX_ATTEMPTS + 1):
        if attempt > 1:
            await asyncio.sleep(runner.ORPHANED_SECONDS + 0.1)
        owners.append(await _claim_and_kill(sessions, execution_id))
        assert (await _get(sessions, execution_id)).attempts == attempt
    await asyncio.sleep(runner.ORPHANED_SECONDS + 0.1)

    async def never(context: JobContext) -> None:
        raise AssertionError("a failed execution must not run again")

    last = _runner(sessions, never)
    await last.step()
    failed = await _get(sessions, execution_id)
    assert failed.status == "Error"
    assert failed.end_time is not None
    assert (
        f"failed: its replica stopped answering, after {runner.MAX_ATTEMPTS} attempts" in failed.log
    )
    assert failed.log.count("its replica stopped answering: it will run again") == (
        runner.MAX_ATTEMPTS - 1
    )
    assert len(set(owners)) == runner.MAX_ATTEMPTS
    await last.step()
    assert (await _get(sessions, execution_id)).status == "Error"


@pytest.mark.usefixtures("fast")
async def test_an_orphan_runs_again_on_another_replica(replicas: Callable[[], Sessions]) -> None:
    sessions = replicas()
    (execution_id,) = await _add(sessions)
    dead = await _claim_and_kill(sessions, execution_id)

    async def quick(context: JobContext) -> None:
        context.log("did the work")

    survivor = _runner(replicas(), quick)
    await survivor.step()  # a heartbeat 0 s old: not an orphan yet
    assert (await _get(sessions, execution_id)).owner == dead
    await asyncio.sleep(runner.ORPHANED_SECONDS + 0.1)
    await survivor.step()
    await _drain(survivor)
    done = await _get(sessions, execution_id)
    assert (done.status, done.attempts, done.owner) == ("Success", 2, survivor.replica)
    assert "its replica stopped answering: it will run again" in done.log
    assert done.log.count("did the work") == 1


async def test_a_runner_stopped_cleanly_hands_its_job_back(
    replicas: Callable[[], Sessions],
) -> None:
    sessions = replicas()
    (execution_id,) = await _add(sessions)

    async def slow(context: JobContext) -> None:
        await asyncio.sleep(60)

    leaving = _runner(sessions, slow)
    leaving.start()
    await _until(sessions, execution_id, ("Running",))
    await leaving.stop()
    back = await _get(sessions, execution_id)
    assert (back.status, back.owner, back.attempts) == ("Pending", "", 1)
    assert "harborlite stopped while it ran: it will run again" in back.log

    async def quick(context: JobContext) -> None:
        pass

    after = _runner(sessions, quick)
    await after.step()
    await _drain(after)
    assert (await _get(sessions, execution_id)).status == "Success"


@pytest.mark.usefixtures("fast")
async def test_stopping_a_pending_a_running_and_a_finished_execution(
    replicas: Callable[[], Sessions],
) -> None:
    sessions = replicas()
    steps = [0]

    async def loop(context: JobContext) -> None:
        while True:
            context.check()
            steps[0] += 1
            await asyncio.sleep(0.02)

    async with sessions() as session:
        running = await operations.start(session, KIND, {})
        await session.commit()
    one = _runner(sessions, loop)
    await one.step()
    await _until(sessions, running.id, ("Running",))
    async with sessions() as session:
        pending = await operations.start(session, KIND, {}, exclusive=False)
        await session.commit()
        await operations.stop(session, await operations.get_execution(session, pending.id, KIND))
        await session.commit()
    stopped = await _get(sessions, pending.id)
    assert stopped.status == "Stopped" and "stopped before it started" in stopped.log
    async with sessions() as session:
        await operations.stop(session, await operations.get_execution(session, running.id, KIND))
        await session.commit()
    ended = await _until(sessions, running.id, operations.DONE)
    await _drain(one)
    assert ended.status == "Stopped", ended.log
    assert ended.log.rstrip().endswith("stopped")
    assert steps[0] > 0
    await one.step()  # the stopped pending one is never claimed
    assert (await _get(sessions, pending.id)).attempts == 0
    async with sessions() as session:
        finished = await operations.get_execution(session, running.id, KIND)
        with pytest.raises(PreconditionFailed) as refused:
            await operations.stop(session, finished)
    assert refused.value.message == f"execution {running.id} is Stopped, not running"


async def test_a_failing_job_ends_in_error_with_its_reason(
    replicas: Callable[[], Sessions],
) -> None:
    sessions = replicas()
    (execution_id,) = await _add(sessions)

    async def broken(context: JobContext) -> None:
        context.log("about to fail")
        context.progress = 40
        raise ValueError("the disk is on fire")

    one = _runner(sessions, broken)
    await one.step()
    await _drain(one)
    failed = await _get(sessions, execution_id)
    assert (failed.status, failed.progress) == ("Error", 40)
    assert "about to fail" in failed.log
    assert "failed: ValueError: the disk is on fire" in failed.log


async def test_a_kind_this_replica_does_not_run_waits_for_one_that_does(
    replicas: Callable[[], Sessions],
) -> None:
    sessions = replicas()
    (execution_id,) = await _add(sessions, kind="other")

    async def handler(context: JobContext) -> None:
        context.result["ran"] = True

    await _runner(sessions, handler).step()
    assert (await _get(sessions, execution_id)).status == "Pending"
    knows = _runner(replicas(), handler, kind="other")
    await knows.step()
    await _drain(knows)
    done = await _get(sessions, execution_id)
    assert (done.status, done.result) == ("Success", {"ran": True})


async def test_one_manual_execution_at_a_time(replicas: Callable[[], Sessions]) -> None:
    sessions = replicas()
    async with sessions() as session:
        await operations.start(session, KIND, {})
        await session.commit()
    async with sessions() as session:
        with pytest.raises(PreconditionFailed) as refused:
            await operations.start(session, KIND, {})
    assert refused.value.message == f"a {KIND} job is already running"
    async with sessions() as session:  # another ref (another policy) is another job
        other = await operations.start(session, KIND, {}, ref="policy-2")
        await session.commit()
    assert other.id


async def test_one_execution_of_a_job_runs_at_a_time(replicas: Callable[[], Sessions]) -> None:
    """A collection fired by its schedule while another runs waits for it (two would mark
    and sweep the same blobs)."""
    release = asyncio.Event()

    async def handler(context: JobContext) -> None:
        await release.wait()

    sessions = replicas()
    one = _runner(sessions, handler)
    ids = await _add(sessions, count=2)
    await one.step()
    await one.step()
    assert [(await _get(sessions, i)).status for i in ids] == ["Running", "Pending"]
    release.set()
    await _drain(one)
