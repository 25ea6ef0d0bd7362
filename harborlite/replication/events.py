"""Event-based replication: a push (and, with ``replicate_deletion``, a delete) in this
harborlite starts an execution of every enabled event-based push policy whose filters select
it, for that one artifact or tag, within the runner's next tick (a second).

The subscriber only records the execution (one short transaction); the copy is the job's.
Deletions are replicated to every destination type (beyond Harbor, which replicates them to
Harbor only): a tag deleted, an artifact deleted.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.events.bus import (
    DELETE_ARTIFACT,
    DELETE_TAG,
    PUSH_ARTIFACT,
    ArtifactEvent,
    Subscriber,
)
from harborlite.replication.copy import is_legacy_accessory_tag
from harborlite.replication.models import ReplicationPolicy
from harborlite.replication.operations import start_execution
from harborlite.replication.policy import EVENT_BASED, TAG, filters_of
from harborlite.replication.selection import Candidate
from harborlite.replication.selection import select as select_candidate

DELETIONS = (DELETE_ARTIFACT, DELETE_TAG)


def event_of(event: ArtifactEvent) -> dict[str, object]:
    operation = "deletion" if event.kind in DELETIONS else "copy"
    tag = event.tag if event.kind != DELETE_ARTIFACT else None
    return {
        "operation": operation,
        "repository": event.repository,
        "digest": event.digest if event.kind != DELETE_TAG else None,
        "tag": tag,
        "kind": event.kind,
    }


def selects(policy: ReplicationPolicy, event: ArtifactEvent) -> bool:
    filters = filters_of(policy.filters)
    if event.tag and is_legacy_accessory_tag(event.tag):  # a signature follows its subject
        filters = tuple(f for f in filters if f.type != TAG)
    tags = (event.tag,) if event.tag else ()
    candidate = Candidate(event.repository, event.digest or "", tags)
    return select_candidate(filters, candidate) is not None


def replication_subscriber(sessions: async_sessionmaker[AsyncSession]) -> Subscriber:
    async def on_event(event: ArtifactEvent) -> None:
        if event.kind != PUSH_ARTIFACT and event.kind not in DELETIONS:
            return
        async with sessions() as session:
            rows = await session.execute(
                select(ReplicationPolicy).where(
                    ReplicationPolicy.enabled.is_(True),
                    ReplicationPolicy.src_registry_id.is_(None),
                )
            )
            for policy in rows.scalars():
                if policy.trigger.get("type") != EVENT_BASED:
                    continue
                if event.kind in DELETIONS and not policy.replicate_deletion:
                    continue
                if selects(policy, event):
                    await start_execution(
                        session, policy, EVENT_BASED, event=event_of(event), by=event.operator
                    )
            await session.commit()

    return on_event
