"""What can be done to webhook policies and read of their deliveries, once for every surface
(the API and the portal call these; they only parse and render)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import CREATE, DELETE, UPDATE, Actor, record
from harborlite.db.models import JobExecution, Project, utcnow
from harborlite.errors import Conflict, NotFound
from harborlite.webhooks.models import WebhookPolicy, WebhookTask
from harborlite.webhooks.policy import PolicyFields
from harborlite.webhooks.signing import new_secret

WEBHOOK = "WEBHOOK"  # the job kind of a delivery


async def list_policies(
    session: AsyncSession, project_id: int, *, offset: int = 0, limit: int = 100
) -> tuple[Sequence[WebhookPolicy], int]:
    where = WebhookPolicy.project_id == project_id
    total = (
        await session.execute(select(func.count()).select_from(WebhookPolicy).where(where))
    ).scalar_one()
    rows = await session.execute(
        select(WebhookPolicy).where(where).order_by(WebhookPolicy.id).offset(offset).limit(limit)
    )
    return rows.scalars().all(), int(total)


async def get_policy(session: AsyncSession, project: Project, policy_id: int) -> WebhookPolicy:
    policy = await session.get(WebhookPolicy, policy_id)
    if policy is None or policy.project_id != project.id:
        raise NotFound(f"webhook policy {policy_id} not found")
    return policy


async def _name_taken(
    session: AsyncSession, project_id: int, name: str, but: int | None = None
) -> bool:
    query = select(WebhookPolicy.id).where(
        WebhookPolicy.project_id == project_id, WebhookPolicy.name == name
    )
    found = (await session.execute(query)).scalars().all()
    return any(policy_id != but for policy_id in found)


async def create_policy(
    session: AsyncSession, project: Project, fields: PolicyFields, *, by: Actor
) -> WebhookPolicy:
    """A new policy with a new secret (the caller shows it once); 409 for a taken name."""
    if await _name_taken(session, project.id, fields.name):
        raise Conflict(f"notification policy {fields.name} already exists")
    policy = WebhookPolicy(
        project_id=project.id,
        name=fields.name,
        description=fields.description,
        enabled=fields.enabled,
        event_types=fields.event_types,
        targets=fields.targets,
        secret=new_secret(),
        creator=by.username,
    )
    session.add(policy)
    await session.flush()
    record(session, by.event(CREATE, "webhook-policy", policy.name, project_id=project.id))
    return policy


async def update_policy(
    session: AsyncSession, policy: WebhookPolicy, fields: PolicyFields, *, by: Actor
) -> None:
    if await _name_taken(session, policy.project_id, fields.name, but=policy.id):
        raise Conflict(f"notification policy {fields.name} already exists")
    policy.name, policy.description = fields.name, fields.description
    policy.enabled, policy.event_types = fields.enabled, fields.event_types
    policy.targets = fields.targets
    policy.update_time = utcnow()
    record(session, by.event(UPDATE, "webhook-policy", policy.name, project_id=policy.project_id))


async def set_enabled(
    session: AsyncSession, policy: WebhookPolicy, enabled: bool, *, by: Actor
) -> None:
    policy.enabled, policy.update_time = enabled, utcnow()
    record(session, by.event(UPDATE, "webhook-policy", policy.name, project_id=policy.project_id))


async def rotate_secret(session: AsyncSession, policy: WebhookPolicy, *, by: Actor) -> str:
    """A new secret (the old one stops verifying at once); returned to be shown once."""
    policy.secret, policy.update_time = new_secret(), utcnow()
    record(
        session,
        by.event(
            UPDATE,
            "webhook-policy",
            policy.name,
            project_id=policy.project_id,
            detail="secret rotated",
        ),
    )
    return policy.secret


async def delete_policy(session: AsyncSession, policy: WebhookPolicy, *, by: Actor) -> None:
    """The policy and its delivery records go (a pending delivery then finds nothing to do)."""
    await session.execute(delete(WebhookTask).where(WebhookTask.policy_id == policy.id))
    record(session, by.event(DELETE, "webhook-policy", policy.name, project_id=policy.project_id))
    await session.delete(policy)


# ---------------------------------------------------------------- deliveries


@dataclass(frozen=True)
class ExecutionView:
    """Harbor's ``Execution`` of a webhook: the job execution and its tasks' counts."""

    execution: JobExecution
    policy_id: int
    event_type: str
    counts: dict[str, int]


async def list_executions(
    session: AsyncSession, policy: WebhookPolicy, *, offset: int = 0, limit: int = 10
) -> tuple[list[ExecutionView], int]:
    ids = select(WebhookTask.execution_id).where(WebhookTask.policy_id == policy.id).distinct()
    total = (await session.execute(select(func.count()).select_from(ids.subquery()))).scalar_one()
    rows = (
        (
            await session.execute(
                select(JobExecution)
                .where(JobExecution.id.in_(ids), JobExecution.kind == WEBHOOK)
                .order_by(JobExecution.id.desc())
                .offset(offset)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    views = [await _view(session, policy.id, row) for row in rows]
    return views, int(total)


async def _view(session: AsyncSession, policy_id: int, execution: JobExecution) -> ExecutionView:
    found = await session.execute(
        select(WebhookTask.status, WebhookTask.event_type).where(
            WebhookTask.execution_id == execution.id
        )
    )
    counts: dict[str, int] = {}
    event_type = str(execution.parameters.get("event_type", ""))
    for status, kind in found.all():
        counts[status] = counts.get(status, 0) + 1
        event_type = event_type or kind
    return ExecutionView(execution, policy_id, event_type, counts)


async def get_execution(
    session: AsyncSession, policy: WebhookPolicy, execution_id: int
) -> ExecutionView:
    execution = await session.get(JobExecution, execution_id)
    if execution is None or execution.kind != WEBHOOK:
        raise NotFound(f"execution {execution_id} not found")
    if execution.parameters.get("policy_id") != policy.id:
        raise NotFound(f"execution {execution_id} not found")
    return await _view(session, policy.id, execution)


async def list_tasks(session: AsyncSession, execution_id: int) -> Sequence[WebhookTask]:
    rows = await session.execute(
        select(WebhookTask).where(WebhookTask.execution_id == execution_id).order_by(WebhookTask.id)
    )
    return rows.scalars().all()


async def get_task(session: AsyncSession, execution_id: int, task_id: int) -> WebhookTask:
    task = await session.get(WebhookTask, task_id)
    if task is None or task.execution_id != execution_id:
        raise NotFound(f"task {task_id} not found")
    return task


async def recent_tasks(
    session: AsyncSession, project_id: int, limit: int = 20
) -> Sequence[tuple[WebhookTask, str]]:
    """The project's latest deliveries, newest first, with their policy's name (the portal)."""
    rows = await session.execute(
        select(WebhookTask, WebhookPolicy.name)
        .join(WebhookPolicy, WebhookPolicy.id == WebhookTask.policy_id)
        .where(WebhookPolicy.project_id == project_id)
        .order_by(WebhookTask.id.desc())
        .limit(limit)
    )
    return [(task, name) for task, name in rows.all()]


@dataclass(frozen=True)
class LastTrigger:
    policy_name: str
    enabled: bool
    event_type: str
    creation_time: datetime
    last_trigger_time: datetime | None


async def last_triggers(session: AsyncSession, project_id: int) -> list[LastTrigger]:
    """Harbor's ``lasttrigger``: for each policy and event type, when it last fired."""
    policies, _ = await list_policies(session, project_id, limit=1000)
    found = await session.execute(
        select(WebhookTask.policy_id, WebhookTask.event_type, func.max(WebhookTask.creation_time))
        .join(WebhookPolicy, WebhookPolicy.id == WebhookTask.policy_id)
        .where(WebhookPolicy.project_id == project_id)
        .group_by(WebhookTask.policy_id, WebhookTask.event_type)
    )
    last = {(policy_id, kind): when for policy_id, kind, when in found.all()}
    return [
        LastTrigger(
            policy.name, policy.enabled, kind, policy.creation_time, last.get((policy.id, kind))
        )
        for policy in policies
        for kind in policy.event_types
    ]
