"""What can be done to a project's retention policy, once for every surface: create, change,
delete it, run it now (for real or dry), stop a run, read runs and their tasks.

Permissions are the caller's to check (``tag-retention`` in the policy's project); the rules
that depend on the data are here: one policy per project (its id in the project's metadata
``retention_id``, as in Harbor), the schedule kept in step with the policy's cron, and a run
refused while another run of the policy is pending or running. Runs are background jobs of
kind :data:`RETENTION` with ``ref`` the policy's id; their tasks (one per repository) live in
the execution's ``result`` (see :mod:`harborlite.retention.job`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import CREATE, DELETE, UPDATE, Actor, record
from harborlite.db.errors import flush_unique
from harborlite.db.models import JobExecution, JobSchedule, Project, utcnow
from harborlite.errors import BadRequest, NotFound
from harborlite.jobs import operations as jobs
from harborlite.jobs.schedules import PRESETS
from harborlite.projects import queries as projects
from harborlite.retention.models import RetentionPolicy
from harborlite.retention.policy import Policy, cron_of_row

RETENTION = "retention"  # the background job kind
METADATA_KEY = "retention_id"
RESOURCE = "retention"  # audit entries' resource type


async def get_policy(session: AsyncSession, policy_id: int) -> RetentionPolicy:
    row = await session.get(RetentionPolicy, policy_id)
    if row is None:
        raise NotFound(f"retention policy {policy_id} not found")
    return row


async def policy_of_project(session: AsyncSession, project_id: int) -> RetentionPolicy | None:
    found = await session.execute(
        select(RetentionPolicy).where(RetentionPolicy.project_id == project_id)
    )
    return found.scalar_one_or_none()


async def project_of(session: AsyncSession, row: RetentionPolicy) -> Project:
    project = await projects.get_project(session, row.project_id)
    if project is None:  # the policy goes with its project (ON DELETE CASCADE)
        raise NotFound(f"retention policy {row.id} not found")
    return project


def _audit(
    session: AsyncSession, by: Actor, operation: str, project: Project, row: RetentionPolicy
) -> None:
    rules = len(row.rules or [])
    cron = cron_of_row(row)
    detail = f"{rules} rule{'' if rules == 1 else 's'}" + (f", cron {cron}" if cron else "")
    record(
        session,
        by.event(
            operation,
            RESOURCE,
            f"{project.name} retention policy {row.id}",
            project_id=project.id,
            detail=detail,
        ),
    )


async def _keep_schedule(session: AsyncSession, row: RetentionPolicy, cron: str) -> None:
    """The policy's job schedule follows its cron ("" removes it)."""
    ref = str(row.id)
    if not cron:
        schedule = await jobs.get_schedule(session, RETENTION, ref)
        if schedule is not None:
            await session.delete(schedule)
            await session.flush()
        return
    preset = next((name for name, value in PRESETS.items() if value == cron), "Custom")
    parameters = {"policy_id": row.id, "dry_run": False}
    await jobs.set_schedule(session, RETENTION, preset, cron, parameters, ref=ref)


async def create_policy(
    session: AsyncSession, project: Project, policy: Policy, *, by: Actor
) -> RetentionPolicy:
    """The project's policy; BadRequest (Harbor's 400) when the project has one already."""
    held = (project.project_metadata or {}).get(METADATA_KEY)
    existing = await policy_of_project(session, project.id)
    if held or existing is not None:
        named = held or (existing.id if existing is not None else "")
        raise BadRequest(f"project {project.id} already has retention policy {named}")
    row = RetentionPolicy(
        project_id=project.id,
        algorithm="or",
        rules=policy.rules_json(),
        trigger=policy.trigger_json(),
    )
    session.add(row)
    await flush_unique(session, f"project {project.id} already has a retention policy")
    await projects.set_metadata(session, project, {METADATA_KEY: str(row.id)})
    await _keep_schedule(session, row, policy.cron)
    _audit(session, by, CREATE, project, row)
    return row


async def update_policy(
    session: AsyncSession, row: RetentionPolicy, policy: Policy, *, by: Actor
) -> None:
    """Replace the policy's rules and schedule. Its scope stays: a body naming another
    project is Harbor's 404 "the retention policy id N does not match"."""
    if policy.project_id != row.project_id:
        raise NotFound(f"the retention policy id {row.id} does not match")
    project = await project_of(session, row)
    row.rules = policy.rules_json()
    row.trigger = policy.trigger_json()
    row.update_time = utcnow()
    await session.flush()
    await _keep_schedule(session, row, policy.cron)
    _audit(session, by, UPDATE, project, row)


async def delete_policy(session: AsyncSession, row: RetentionPolicy, *, by: Actor) -> None:
    """Forget the policy, its schedule and its finished runs (as Harbor does); a run still
    pending or running is asked to stop, and stops at its next step."""
    project = await project_of(session, row)
    ref = str(row.id)
    running = await session.execute(
        select(JobExecution).where(
            JobExecution.kind == RETENTION,
            JobExecution.ref == ref,
            JobExecution.status.in_((jobs.PENDING, jobs.RUNNING)),
        )
    )
    for execution in running.scalars():
        await jobs.stop(session, execution)
    await session.execute(
        delete(JobExecution).where(
            JobExecution.kind == RETENTION,
            JobExecution.ref == ref,
            JobExecution.status.in_(jobs.DONE),
        )
    )
    await session.execute(
        delete(JobSchedule).where(JobSchedule.kind == RETENTION, JobSchedule.ref == ref)
    )
    _audit(session, by, DELETE, project, row)
    if (project.project_metadata or {}).get(METADATA_KEY) == ref:
        await projects.delete_metadata(session, project, METADATA_KEY)
    await session.delete(row)
    await session.flush()


async def run_now(
    session: AsyncSession, row: RetentionPolicy, *, dry_run: bool, by: Actor
) -> JobExecution:
    """A new run of the policy, pending until a runner takes it (within a second).
    PreconditionFailed (412) while another run of it is pending or running."""
    parameters = {"policy_id": row.id, "dry_run": dry_run, "triggered_by": by.username}
    return await jobs.start(session, RETENTION, parameters, ref=str(row.id), trigger="MANUAL")


async def executions(
    session: AsyncSession, row: RetentionPolicy, *, offset: int = 0, limit: int = 10
) -> tuple[Sequence[JobExecution], int]:
    """The policy's runs, newest first."""
    return await jobs.list_executions(
        session, RETENTION, ref=str(row.id), offset=offset, limit=limit
    )


async def execution_of(
    session: AsyncSession, row: RetentionPolicy, execution_id: int
) -> JobExecution:
    """One run of the policy (NotFound for a run of another policy or another job)."""
    execution = await jobs.get_execution(session, execution_id, RETENTION)
    if execution.ref != str(row.id):
        raise NotFound(f"retention execution {execution_id} not found")
    return execution


async def stop_execution(session: AsyncSession, row: RetentionPolicy, execution_id: int) -> None:
    """Stop a run; PreconditionFailed (412) when it has finished."""
    await jobs.stop(session, await execution_of(session, row, execution_id))


# --- tasks: one per repository, in the execution's result --------------------------------------


@dataclass(frozen=True)
class Task:
    """A run's work on one repository (Harbor's ``RetentionExecutionTask``)."""

    id: int
    execution_id: int
    repository: str  # the name inside the project, as Harbor shows it
    status: str
    start_time: datetime | None
    end_time: datetime | None
    total: int
    retained: int
    log: str


def _time(raw: Any) -> datetime | None:
    return datetime.fromisoformat(raw) if isinstance(raw, str) and raw else None


def dry_run_of(execution: JobExecution) -> bool:
    return bool((execution.parameters or {}).get("dry_run"))


def policy_id_of(execution: JobExecution) -> int:
    return int((execution.parameters or {}).get("policy_id") or execution.ref)


def tasks_of(execution: JobExecution) -> list[Task]:
    stored = (execution.result or {}).get("tasks") or []
    return [
        Task(
            id=int(raw["id"]),
            execution_id=execution.id,
            repository=str(raw.get("repository", "")),
            status=str(raw.get("status", jobs.PENDING)),
            start_time=_time(raw.get("start_time")),
            end_time=_time(raw.get("end_time")),
            total=int(raw.get("total", 0)),
            retained=int(raw.get("retained", 0)),
            log=str(raw.get("log", "")),
        )
        for raw in stored
        if isinstance(raw, dict) and "id" in raw
    ]


def task_of(execution: JobExecution, task_id: int) -> Task:
    for task in tasks_of(execution):
        if task.id == task_id:
            return task
    raise NotFound(f"retention task {task_id} not found in execution {execution.id}")
