"""What can be done to replication policies and executions, once for every surface.

An execution is a background job of kind :data:`REPLICATION` (``ref``: the policy's id; the
runner runs one execution of a policy at a time), its parameters ``policy_id``, ``trigger``
(``manual``, ``scheduled`` or ``event_based``) and, for an event, ``event`` (the artifact and
the operation). A scheduled policy keeps a job schedule of that kind and ref, with Harbor's
6-field cron.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import MAX_KEY, JobExecution, JobSchedule, utcnow
from harborlite.endpoints.models import Registry
from harborlite.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from harborlite.jobs import operations as jobs
from harborlite.replication.models import ReplicationPolicy, ReplicationTask
from harborlite.replication.policy import SCHEDULED, PolicySpec

REPLICATION = "replication"
# JobExecution.trigger for each of Harbor's triggers, and back
JOB_TRIGGERS = {"manual": "MANUAL", "scheduled": "SCHEDULE", "event_based": "EVENT"}
HARBOR_TRIGGERS = {value: key for key, value in JOB_TRIGGERS.items()}
# the runner's statuses as Harbor's replication executions and tasks show them
HARBOR_STATUS = {
    jobs.PENDING: "InProgress",
    jobs.RUNNING: "InProgress",
    jobs.SUCCESS: "Succeed",
    jobs.ERROR: "Failed",
    jobs.STOPPED: "Stopped",
}
JOB_STATUS = {
    "InProgress": (jobs.PENDING, jobs.RUNNING),
    "Succeed": (jobs.SUCCESS,),
    "Failed": (jobs.ERROR,),
    "Stopped": (jobs.STOPPED,),
}


async def get_policy(session: AsyncSession, policy_id: int) -> ReplicationPolicy:
    policy = None if policy_id > MAX_KEY else await session.get(ReplicationPolicy, policy_id)
    if policy is None:
        raise NotFound(f"policy {policy_id} not found")
    return policy


async def list_policies(
    session: AsyncSession, *, name: str | None = None, offset: int = 0, limit: int = 10
) -> tuple[Sequence[ReplicationPolicy], int]:
    where = []
    if name:
        where.append(ReplicationPolicy.name.contains(name, autoescape=True))
    total = await session.execute(select(func.count()).select_from(ReplicationPolicy).where(*where))
    rows = await session.execute(
        select(ReplicationPolicy)
        .where(*where)
        .order_by(ReplicationPolicy.id)
        .offset(offset)
        .limit(limit)
    )
    return rows.scalars().all(), int(total.scalar_one())


async def _check_registries(session: AsyncSession, spec: PolicySpec) -> None:
    for registry_id in (spec.src_registry_id, spec.dest_registry_id):
        if registry_id is not None and (
            registry_id > MAX_KEY or await session.get(Registry, registry_id) is None
        ):
            raise BadRequest(f"registry {registry_id} not found")


async def _check_name(session: AsyncSession, name: str, own_id: int | None) -> None:
    found = await session.execute(
        select(ReplicationPolicy.id).where(ReplicationPolicy.name == name)
    )
    other = found.scalar()
    if other is not None and other != own_id:
        raise Conflict(f"policy {name} already exists")


def _apply(policy: ReplicationPolicy, spec: PolicySpec) -> None:
    policy.name = spec.name
    policy.description = spec.description
    policy.src_registry_id = spec.src_registry_id
    policy.dest_registry_id = spec.dest_registry_id
    policy.dest_namespace = spec.dest_namespace
    policy.dest_namespace_replace_count = spec.dest_namespace_replace_count
    policy.filters = [f.as_json() for f in spec.filters]
    policy.trigger = dict(spec.trigger)
    policy.replicate_deletion = spec.replicate_deletion
    policy.override = spec.override
    policy.enabled = spec.enabled
    policy.speed = spec.speed
    policy.copy_by_chunk = spec.copy_by_chunk
    policy.single_active_replication = spec.single_active_replication
    policy.update_time = utcnow()


async def _schedule(session: AsyncSession, policy: ReplicationPolicy) -> None:
    """Keep the policy's job schedule as its trigger says (none unless scheduled and enabled)."""
    parameters = {"policy_id": policy.id, "trigger": SCHEDULED}
    cron = str(policy.trigger.get("trigger_settings", {}).get("cron", ""))
    ref = str(policy.id)
    if policy.enabled and policy.trigger.get("type") == SCHEDULED:
        await jobs.set_schedule(session, REPLICATION, "Custom", cron, parameters, ref=ref)
    elif await jobs.get_schedule(session, REPLICATION, ref) is not None:
        await jobs.set_schedule(session, REPLICATION, "None", None, parameters, ref=ref)


async def create_policy(session: AsyncSession, spec: PolicySpec, creator: str) -> ReplicationPolicy:
    await _check_name(session, spec.name, None)
    await _check_registries(session, spec)
    policy = ReplicationPolicy(creator=creator, creation_time=utcnow())
    _apply(policy, spec)
    session.add(policy)
    await session.flush()
    await _schedule(session, policy)
    return policy


async def update_policy(
    session: AsyncSession, policy: ReplicationPolicy, spec: PolicySpec
) -> ReplicationPolicy:
    await _check_name(session, spec.name, policy.id)
    await _check_registries(session, spec)
    _apply(policy, spec)
    await session.flush()
    await _schedule(session, policy)
    return policy


async def active_executions(session: AsyncSession, policy_id: int) -> int:
    busy = await session.execute(
        select(func.count())
        .select_from(JobExecution)
        .where(
            JobExecution.kind == REPLICATION,
            JobExecution.ref == str(policy_id),
            JobExecution.status.in_((jobs.PENDING, jobs.RUNNING)),
        )
    )
    return int(busy.scalar_one())


async def delete_policy(session: AsyncSession, policy: ReplicationPolicy) -> None:
    """Harbor refuses while an execution runs (412); the executions go with the policy."""
    if await active_executions(session, policy.id):
        raise PreconditionFailed(
            f"the policy {policy.name} has executions in progress: stop them first"
        )
    ref = str(policy.id)
    await session.execute(
        delete(JobSchedule).where(JobSchedule.kind == REPLICATION, JobSchedule.ref == ref)
    )
    await session.execute(
        delete(JobExecution).where(JobExecution.kind == REPLICATION, JobExecution.ref == ref)
    )
    await session.delete(policy)
    await session.flush()


async def start_execution(
    session: AsyncSession,
    policy: ReplicationPolicy,
    trigger: str,
    *,
    event: dict[str, Any] | None = None,
    by: str = "",
) -> JobExecution | None:
    """A new execution of ``policy``, pending until a runner claims it. A manual start of a
    disabled policy is refused (412, as Harbor); with ``single_active_replication`` a start
    while one is active is refused (manual: 412) or skipped (events: None)."""
    if trigger == "manual" and not policy.enabled:
        raise PreconditionFailed(f"the policy {policy.id} is disabled")
    if policy.single_active_replication and await active_executions(session, policy.id):
        if trigger != "manual":
            return None
        raise PreconditionFailed(
            f"the policy {policy.name} has an execution in progress and allows a single one"
        )
    parameters: dict[str, Any] = {"policy_id": policy.id, "trigger": trigger}
    if event is not None:
        parameters["event"] = event
    if by:
        parameters["triggered_by"] = by
    return await jobs.start(
        session,
        REPLICATION,
        parameters,
        ref=str(policy.id),
        trigger=JOB_TRIGGERS[trigger],
        exclusive=False,
    )


async def get_execution(session: AsyncSession, execution_id: int) -> JobExecution:
    execution = await session.get(JobExecution, execution_id)
    if execution is None or execution.kind != REPLICATION:
        raise NotFound(f"execution {execution_id} not found")
    return execution


async def list_executions(
    session: AsyncSession,
    *,
    policy_id: int | None = None,
    status: str | None = None,
    trigger: str | None = None,
    offset: int = 0,
    limit: int = 10,
) -> tuple[Sequence[JobExecution], int]:
    where = [JobExecution.kind == REPLICATION]
    if policy_id is not None:
        where.append(JobExecution.ref == str(policy_id))
    if status:
        if status not in JOB_STATUS:
            raise BadRequest(f"invalid status {status!r}: InProgress, Succeed, Failed or Stopped")
        where.append(JobExecution.status.in_(JOB_STATUS[status]))
    if trigger:
        if trigger not in JOB_TRIGGERS:
            raise BadRequest(f"invalid trigger {trigger!r}: manual, scheduled or event_based")
        where.append(JobExecution.trigger == JOB_TRIGGERS[trigger])
    total = await session.execute(select(func.count()).select_from(JobExecution).where(*where))
    rows = await session.execute(
        select(JobExecution)
        .where(*where)
        .order_by(JobExecution.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return rows.scalars().all(), int(total.scalar_one())


async def tasks_of(
    session: AsyncSession,
    execution_id: int,
    *,
    status: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[Sequence[ReplicationTask], int]:
    where = [ReplicationTask.execution_id == execution_id]
    if status:
        where.append(ReplicationTask.status == status)
    total = await session.execute(select(func.count()).select_from(ReplicationTask).where(*where))
    rows = await session.execute(
        select(ReplicationTask)
        .where(*where)
        .order_by(ReplicationTask.id)
        .offset(offset)
        .limit(limit)
    )
    return rows.scalars().all(), int(total.scalar_one())


async def task_counts(session: AsyncSession, execution_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(ReplicationTask.status, func.count())
        .where(ReplicationTask.execution_id == execution_id)
        .group_by(ReplicationTask.status)
    )
    return {str(status): int(count) for status, count in rows.all()}


async def get_task(session: AsyncSession, execution_id: int, task_id: int) -> ReplicationTask:
    task = await session.get(ReplicationTask, task_id)
    if task is None or task.execution_id != execution_id:
        raise NotFound(f"task {task_id} of execution {execution_id} not found")
    return task
