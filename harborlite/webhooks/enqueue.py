"""Events become deliveries: for each enabled policy of the event's project that wants its type,
one ``WEBHOOK`` job execution with one task (the exact body) per target, committed before the
runner may claim it. Only database writes here: a failing or hanging target is the job's
business, never the emitter's.

Other modules call :func:`queue_event` (a job has no event bus): replication with
:func:`replication_event`, scanning with :func:`scanning_event`, retention with
:func:`retention_event`.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.artifacts import queries as artifacts
from harborlite.events.bus import ArtifactEvent, Subscriber
from harborlite.jobs import operations as jobs
from harborlite.projects import queries as projects
from harborlite.webhooks.events import (
    EVENT_TYPES,
    REPLICATION,
    SCANNING_COMPLETED,
    SCANNING_FAILED,
    SCANNING_STOPPED,
    TAG_RETENTION,
)
from harborlite.webhooks.models import WebhookPolicy, WebhookTask
from harborlite.webhooks.operations import WEBHOOK
from harborlite.webhooks.payloads import RepositoryInfo, body_for, event_data
from harborlite.webhooks.wanted import WantedKinds

log = logging.getLogger("harborlite.webhooks")


async def queue_event(session: AsyncSession, host: str, event: ArtifactEvent) -> list[int]:
    """Queue ``event`` for every policy that wants it (the caller commits); the executions'
    ids. ``host``: the external URL's host[:port], for ``resource_url``."""
    if event.kind not in EVENT_TYPES:
        return []
    project = await projects.get_project_by_name(session, event.project)
    if project is None:
        return []
    policies = (
        (
            await session.execute(
                select(WebhookPolicy)
                .where(WebhookPolicy.project_id == project.id, WebhookPolicy.enabled.is_(True))
                .order_by(WebhookPolicy.id)
            )
        )
        .scalars()
        .all()
    )
    wanted = [policy for policy in policies if event.kind in policy.event_types]
    if not wanted:
        return []
    if event.digest is None and event.tag and event.kind != "DELETE_TAG":
        resolved = await artifacts.resolve_reference(session, event.repository, event.tag)
        if resolved is not None:  # a pull by tag: name the digest it served
            event = _with_digest(event, resolved[1].digest)
    repository = None
    if event.repository:
        row = await artifacts.get_repository(session, event.repository)
        repository = RepositoryInfo(row.creation_time if row else None, project.public)
    data = event_data(event, host, repository)
    started = []
    for policy in wanted:
        execution = await jobs.start(
            session,
            WEBHOOK,
            {"policy_id": policy.id, "event_type": event.kind},
            ref=f"policy-{policy.id}",
            trigger="EVENT",
            exclusive=False,
        )
        for target in policy.targets:
            body, content_type = body_for(target, event, data, project.id, policy.id)
            session.add(
                WebhookTask(
                    policy_id=policy.id,
                    execution_id=execution.id,
                    event_type=event.kind,
                    target_type=target.get("type", ""),
                    address=target.get("address", ""),
                    payload_format=target.get("payload_format", ""),
                    content_type=content_type,
                    payload=body,
                )
            )
        started.append(execution.id)
    await session.flush()
    return started


def _with_digest(event: ArtifactEvent, digest: str) -> ArtifactEvent:
    return ArtifactEvent(
        event.kind,
        event.project,
        event.repository,
        digest,
        event.tag,
        event.operator,
        media_type=event.media_type,
        size=event.size,
        occurred_at=event.occurred_at,
        details=event.details,
    )


def host_of(external_url: str) -> str:
    return urlsplit(external_url).netloc


def webhook_subscriber(sessions: async_sessionmaker[AsyncSession], external_url: str) -> Subscriber:
    """The event bus subscriber: one short transaction per event some policy of its project
    wants (the others, most pulls, cost no query)."""
    host = host_of(external_url)
    wanted = WantedKinds(sessions)

    async def on_event(event: ArtifactEvent) -> None:
        if event.kind not in await wanted.kinds(event.project):
            return
        async with sessions() as session:
            if await queue_event(session, host, event):
                await session.commit()

    return on_event


# ------------------------------------------------ events other modules raise (no bus in a job)


def replication_event(
    project: str,
    operator: str,
    replication: dict[str, Any],
    resources: list[dict[str, Any]] | None = None,
) -> ArtifactEvent:
    """A REPLICATION event of ``project`` (the local side) for :func:`queue_event`.
    ``replication`` is Harbor's ``event_data.replication``: ``{harbor_hostname, job_status,
    description, artifact_type, authentication_type, override_mode, trigger_type, policy_creator,
    execution_timestamp, src_resource, dest_resource, execution_id, task_id}``."""
    details: dict[str, Any] = {"replication": replication}
    details["resources"] = resources or []
    return ArtifactEvent(REPLICATION, project, "", None, None, operator, details=details)


def scanning_event(
    kind: str,
    project: str,
    repository: str,
    digest: str,
    tag: str | None,
    operator: str,
    scan_overview: dict[str, Any],
    scan_type: str = "vulnerability",
) -> ArtifactEvent:
    """A SCANNING_COMPLETED, _FAILED or _STOPPED event; the resource carries Harbor's
    ``scan_overview`` (or ``sbom_overview`` for an SBOM scan)."""
    if kind not in (SCANNING_COMPLETED, SCANNING_FAILED, SCANNING_STOPPED):
        raise ValueError(f"not a scanning event: {kind}")
    overview = "sbom_overview" if scan_type == "sbom" else "scan_overview"
    resource: dict[str, Any] = {"digest": digest, "tag": tag or digest, overview: scan_overview}
    return ArtifactEvent(
        kind,
        project,
        repository,
        digest,
        tag,
        operator,
        details={"scan": {"scan_type": scan_type}, "resources": [resource]},
    )


def retention_event(project: str, operator: str, retention: dict[str, Any]) -> ArtifactEvent:
    """A TAG_RETENTION event, once per execution: Harbor's ``event_data.retention`` is
    ``{total, retained, hook_status, project_name, deleted_artifacts: [{type, status,
    name_space, repository, tag, digest}]}``."""
    details: dict[str, Any] = {
        "resources": [],
        "retention": {"project_name": project, **retention},
    }
    return ArtifactEvent(TAG_RETENTION, project, "", None, None, operator, details=details)
