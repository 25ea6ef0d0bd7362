"""What can be done to background jobs, once for every surface: schedule one, run one now,
stop an execution, read executions and their logs. The runner (:mod:`harborlite.jobs.runner`)
does the running."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import JobExecution, JobSchedule, utcnow
from harborlite.errors import NotFound, PreconditionFailed
from harborlite.jobs.schedules import cron_of, next_run

PENDING, RUNNING, SUCCESS, ERROR, STOPPED = "Pending", "Running", "Success", "Error", "Stopped"
DONE = (SUCCESS, ERROR, STOPPED)


async def get_schedule(session: AsyncSession, kind: str, ref: str = "system") -> JobSchedule | None:
    found = await session.execute(
        select(JobSchedule).where(JobSchedule.kind == kind, JobSchedule.ref == ref)
    )
    return found.scalar()


async def set_schedule(
    session: AsyncSession,
    kind: str,
    schedule_type: str,
    cron: str | None,
    parameters: dict[str, Any],
    *,
    ref: str = "system",
) -> JobSchedule:
    """Keep ``kind``'s schedule (``None`` keeps its parameters and no time); BadRequest for a
    bad type or cron."""
    resolved = cron_of(schedule_type, cron)
    schedule = await get_schedule(session, kind, ref)
    if schedule is None:
        schedule = JobSchedule(kind=kind, ref=ref)
        session.add(schedule)
    schedule.schedule_type = "None" if schedule_type == "Manual" else schedule_type
    schedule.cron = resolved
    schedule.parameters = dict(parameters)
    schedule.next_run = next_run(resolved)
    schedule.update_time = utcnow()
    await session.flush()
    return schedule


async def start(
    session: AsyncSession,
    kind: str,
    parameters: dict[str, Any],
    *,
    ref: str = "system",
    trigger: str = "MANUAL",
    exclusive: bool = True,
) -> JobExecution:
    """A new execution, pending until a runner claims it. ``exclusive``: refused (412) while
    another execution of the same job is pending or running."""
    if exclusive:
        await _serialize(session, kind, ref)
        busy = await session.execute(
            select(func.count())
            .select_from(JobExecution)
            .where(
                JobExecution.kind == kind,
                JobExecution.ref == ref,
                JobExecution.status.in_((PENDING, RUNNING)),
            )
        )
        if busy.scalar_one():
            raise PreconditionFailed(f"a {kind} job is already running")
    execution = JobExecution(
        kind=kind, ref=ref, trigger=trigger, parameters=dict(parameters), status=PENDING
    )
    session.add(execution)
    await session.flush()
    return execution


async def _serialize(session: AsyncSession, kind: str, ref: str) -> None:
    """Hold ``kind``'s schedule row (made, unscheduled, if missing) until the transaction ends:
    a concurrent start waits here (PostgreSQL: the row lock; SQLite: the write lock its first
    write takes), then counts the execution the first one added."""
    hold = (
        update(JobSchedule)
        .where(JobSchedule.kind == kind, JobSchedule.ref == ref)
        .values(update_time=JobSchedule.update_time)
    )
    if int(getattr(await session.execute(hold), "rowcount", 0)) == 1:
        return
    try:
        async with session.begin_nested():
            session.add(JobSchedule(kind=kind, ref=ref, schedule_type="None", cron=""))
    except IntegrityError:  # another start made it first: wait for its lock
        await session.execute(hold)


async def get_execution(session: AsyncSession, execution_id: int, kind: str) -> JobExecution:
    execution = await session.get(JobExecution, execution_id)
    if execution is None or execution.kind != kind:
        raise NotFound(f"{kind} execution {execution_id} not found")
    return execution


async def list_executions(
    session: AsyncSession, kind: str, *, ref: str | None = None, offset: int = 0, limit: int = 10
) -> tuple[Sequence[JobExecution], int]:
    where = [JobExecution.kind == kind]
    if ref is not None:
        where.append(JobExecution.ref == ref)
    total = (
        await session.execute(select(func.count()).select_from(JobExecution).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(JobExecution)
        .where(*where)
        .order_by(JobExecution.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return rows.scalars().all(), int(total)


async def stop(session: AsyncSession, execution: JobExecution) -> None:
    """Stop it: a pending one at once, a running one at its next step (its runner sees the
    request within seconds). A finished one: 412."""
    if execution.status in DONE:
        raise PreconditionFailed(f"execution {execution.id} is {execution.status}, not running")
    now = utcnow()
    if execution.status == PENDING:  # unless a runner claims it this moment (then: asked)
        stopped = await session.execute(
            update(JobExecution)
            .where(JobExecution.id == execution.id, JobExecution.status == PENDING)
            .values(
                status=STOPPED,
                end_time=now,
                stop_requested=True,
                update_time=now,
                log=JobExecution.log + f"{_stamp(now)} stopped before it started\n",
            )
        )
        if int(getattr(stopped, "rowcount", 0)) == 1:
            await session.refresh(execution)
            return
    await session.execute(
        update(JobExecution)
        .where(JobExecution.id == execution.id)
        .values(stop_requested=True, update_time=now)
    )
    await session.refresh(execution)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
