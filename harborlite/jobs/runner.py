"""The background job runner: every replica runs one; each execution runs on exactly one.

Every :data:`TICK_SECONDS` a runner

1. fires the schedules that are due: it moves ``next_run`` on with a compare-and-set
   (``UPDATE ... WHERE next_run = :seen``) and, in the same transaction, adds the execution;
   of several replicas only the one whose update changed the row adds it;
2. gives back executions whose runner died (no heartbeat for :data:`ORPHANED_SECONDS`): pending
   again, up to :data:`MAX_ATTEMPTS` attempts, then ``Error`` with the reason;
3. claims a pending execution with another compare-and-set (``status`` Pending to Running,
   ``owner`` itself), and runs it.

Compare-and-set rather than ``SELECT ... FOR UPDATE SKIP LOCKED``: it needs no lock held while
a job runs, reads the same on SQLite and PostgreSQL (where a concurrent update waits for the
first to commit and then finds the row changed), and a claim is one short statement. A
running job writes a heartbeat (with its log and progress) every :data:`HEARTBEAT_SECONDS`
and learns there whether someone asked it to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from harborlite.db.models import JobExecution, JobSchedule, utcnow
from harborlite.jobs.operations import ERROR, PENDING, RUNNING, STOPPED, SUCCESS
from harborlite.jobs.schedules import next_run

log = logging.getLogger("harborlite.jobs")

TICK_SECONDS = 1.0
HEARTBEAT_SECONDS = 2.0
ORPHANED_SECONDS = 20.0
MAX_ATTEMPTS = 3
MAX_RUNNING = 2  # executions one replica runs at once


class JobStopped(Exception):
    """Raised by :meth:`JobContext.check` when the execution was asked to stop."""


@dataclass
class JobContext:
    """What a running job sees: its parameters, a log, progress, and whether to stop."""

    execution_id: int
    parameters: dict[str, Any]
    sessions: async_sessionmaker[AsyncSession]
    result: dict[str, Any] = field(default_factory=dict)
    progress: int = 0
    stop_requested: bool = False
    _lines: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        stamp = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        self._lines.append(f"{stamp} {message}\n")

    def check(self) -> None:
        """Between steps: stop here if asked to."""
        if self.stop_requested:
            raise JobStopped

    def take_lines(self) -> str:
        lines, self._lines = "".join(self._lines), []
        return lines


Handler = Callable[[JobContext], Awaitable[None]]
# told of every execution this runner ran: (kind, outcome, seconds); the outcome is the
# status it ended with, or "Interrupted" (harborlite stopped while it ran: it runs again)
Finished = Callable[[str, str, float], None]
INTERRUPTED = "Interrupted"


class JobRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        handlers: dict[str, Handler],
        *,
        tick: float = TICK_SECONDS,
        finished: Finished | None = None,
    ) -> None:
        self.sessions = sessions
        self.handlers = handlers
        self.tick = tick
        self.finished = finished
        self.replica = secrets.token_hex(6)
        self._task: asyncio.Task[None] | None = None
        self._running: dict[int, asyncio.Task[None]] = {}
        self.wakeup = asyncio.Event()  # set by a surface that started an execution
        self.running_kinds: frozenset[str] = frozenset()  # on any replica, as of the last tick

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="job-runner")

    async def stop(self) -> None:
        """Stop the loop; a job still running is handed back (pending again) for another
        replica, or this one after a restart."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._running.values()):
            task.cancel()
        for execution_id, task in list(self._running.items()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await self._hand_back(execution_id, "harborlite stopped while it ran")

    async def _loop(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away: try again at the next tick
                log.warning("the job runner could not look for work", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), self.tick)
            self.wakeup.clear()

    async def step(self) -> None:
        """One tick: fire due schedules, reclaim orphans, claim and start pending work."""
        await self._fire_schedules()
        await self._reclaim_orphans()
        async with self.sessions() as session:
            kinds = await session.execute(
                select(JobExecution.kind).where(JobExecution.status == RUNNING).distinct()
            )
            self.running_kinds = frozenset(kinds.scalars())
        while len(self._running) < MAX_RUNNING:
            claimed = await self._claim()
            if claimed is None:
                return
            task = asyncio.create_task(self._run(claimed), name=f"job-{claimed}")
            self._running[claimed] = task
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        for key, running in list(self._running.items()):
            if running is task:
                del self._running[key]

    async def _fire_schedules(self) -> None:
        now = utcnow()
        async with self.sessions() as session:
            due = (
                await session.execute(
                    select(JobSchedule.id, JobSchedule.next_run, JobSchedule.cron).where(
                        JobSchedule.next_run.is_not(None), JobSchedule.next_run <= now
                    )
                )
            ).all()
            for schedule_id, seen, cron in due:
                moved = await session.execute(
                    update(JobSchedule)
                    .where(JobSchedule.id == schedule_id, JobSchedule.next_run == seen)
                    .values(next_run=next_run(cron, now), update_time=now)
                )
                if _changed(moved) != 1:  # another replica fired it
                    continue
                schedule = await session.get(JobSchedule, schedule_id)
                assert schedule is not None
                session.add(
                    JobExecution(
                        kind=schedule.kind,
                        ref=schedule.ref,
                        trigger="SCHEDULE",
                        parameters=dict(schedule.parameters),
                        status=PENDING,
                        log=f"{now:%Y-%m-%dT%H:%M:%SZ} scheduled ({schedule.schedule_type})\n",
                    )
                )
            await session.commit()

    async def _reclaim_orphans(self) -> None:
        limit = utcnow() - timedelta(seconds=ORPHANED_SECONDS)
        async with self.sessions() as session:
            orphans = (
                await session.execute(
                    select(JobExecution.id, JobExecution.heartbeat).where(
                        JobExecution.status == RUNNING, JobExecution.heartbeat < limit
                    )
                )
            ).all()
        for execution_id, seen in orphans:
            await self._hand_back(execution_id, "its replica stopped answering", seen=seen)

    async def _hand_back(self, execution_id: int, why: str, seen: Any = None) -> None:
        """Pending again for another try, or Error after MAX_ATTEMPTS; ``seen``: only if
        the heartbeat is still the one seen (no other replica took it meanwhile)."""
        now = utcnow()
        async with self.sessions() as session:
            execution = await session.get(JobExecution, execution_id)
            if execution is None or execution.status != RUNNING:
                return
            if seen is not None and execution.heartbeat != seen:
                return
            stamp = f"{now:%Y-%m-%dT%H:%M:%SZ}"
            if execution.stop_requested:
                execution.status, execution.end_time = STOPPED, now
                execution.log += f"{stamp} stopped ({why})\n"
            elif execution.attempts >= MAX_ATTEMPTS:
                execution.status, execution.end_time = ERROR, now
                execution.log += f"{stamp} failed: {why}, after {execution.attempts} attempts\n"
            else:
                execution.status, execution.owner = PENDING, ""
                execution.log += f"{stamp} {why}: it will run again\n"
            execution.update_time = now
            await session.commit()

    async def _claim(self) -> int | None:
        now = utcnow()
        other = aliased(JobExecution)
        running = select(other.id).where(
            other.status == RUNNING, other.kind == JobExecution.kind, other.ref == JobExecution.ref
        )
        async with self.sessions() as session:
            pending = (
                (
                    await session.execute(
                        select(JobExecution.id)
                        .where(
                            JobExecution.status == PENDING,
                            JobExecution.kind.in_(self.handlers),
                            ~running.exists(),  # one execution of a job at a time
                        )
                        .order_by(JobExecution.id)
                        .limit(5)
                    )
                )
                .scalars()
                .all()
            )
            for execution_id in pending:
                won = await session.execute(
                    update(JobExecution)
                    .where(JobExecution.id == execution_id, JobExecution.status == PENDING)
                    .values(
                        status=RUNNING,
                        owner=self.replica,
                        heartbeat=now,
                        start_time=now,
                        attempts=JobExecution.attempts + 1,
                        update_time=now,
                    )
                )
                await session.commit()
                if _changed(won) == 1:
                    return int(execution_id)
        return None

    async def _run(self, execution_id: int) -> None:
        async with self.sessions() as session:
            execution = await session.get(JobExecution, execution_id)
            assert execution is not None
            context = JobContext(execution_id, dict(execution.parameters), self.sessions)
            kind = execution.kind
            handler = self.handlers[kind]
        context.log(f"started on replica {self.replica}")
        beating = asyncio.create_task(self._heartbeat(context), name=f"job-{execution_id}-beat")
        status, why = SUCCESS, ""
        started = time.perf_counter()
        try:
            await handler(context)
        except JobStopped:
            status = STOPPED
        except asyncio.CancelledError:
            beating.cancel()
            await self._flush(context)
            self._tell(kind, INTERRUPTED, started)
            raise
        except Exception as error:
            status, why = ERROR, f"{type(error).__name__}: {error}"
            log.exception("job %s failed", execution_id)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        context.log({SUCCESS: "finished", STOPPED: "stopped"}.get(status, f"failed: {why}"))
        await self._flush(context, status=status)
        self._tell(kind, status, started)

    def _tell(self, kind: str, outcome: str, started: float) -> None:
        if self.finished is not None:
            self.finished(kind, outcome, time.perf_counter() - started)

    async def _heartbeat(self, context: JobContext) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self._flush(context)

    async def _flush(self, context: JobContext, status: str | None = None) -> None:
        """Write the log lines, progress and result; read whether to stop; end it with
        ``status``. Only while this replica still owns the execution."""
        now = utcnow()
        async with self.sessions() as session:
            execution = await session.get(JobExecution, context.execution_id)
            if execution is None or execution.owner != self.replica:
                return
            if execution.status != RUNNING:
                return
            execution.log += context.take_lines()
            execution.progress = context.progress
            execution.result = dict(context.result)
            execution.heartbeat = now
            execution.update_time = now
            context.stop_requested = execution.stop_requested
            if status is not None:
                execution.status, execution.end_time = status, now
                if status == SUCCESS:
                    execution.progress = 100
            await session.commit()


def _changed(result: Any) -> int:
    """Rows an UPDATE changed (a CursorResult's rowcount; typed loosely by SQLAlchemy)."""
    return int(result.rowcount)
