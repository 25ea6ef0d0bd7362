"""Event-based replication: a push (and, with ``replicate_deletion``, a delete) in this
harborlite starts an execution of every enabled event-based push policy whose filters select
it, for that one artifact or tag, within the runner's next tick (a second).

The subscriber only records the execution (one short transaction); the copy is the job's.
Deletions are replicated to every destination type (beyond Harbor, which replicates them to
Harbor only): a tag deleted, an artifact deleted. Which policies could want an event is held in
a :class:`~harborlite.events.directory.Directory` (their filters): an event none of them
selects (every push where no event-based policy exists) costs no query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.events.bus import (
    DELETE_ARTIFACT,
    DELETE_TAG,
    PUSH_ARTIFACT,
    ArtifactEvent,
    Subscriber,
)
from harborlite.events.directory import Directory
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


@dataclass(frozen=True)
class _Listening:
    """What the directory keeps of an enabled event-based push policy."""

    id: int
    filters: list[dict[str, Any]]
    replicate_deletion: bool


def _hears(policy: ReplicationPolicy | _Listening, event: ArtifactEvent) -> bool:
    if event.kind in DELETIONS and not policy.replicate_deletion:
        return False
    return selects(policy, event)


def selects(policy: ReplicationPolicy | _Listening, event: ArtifactEvent) -> bool:
    filters = filters_of(policy.filters)
    if event.tag and is_legacy_accessory_tag(event.tag):  # a signature follows its subject
        filters = tuple(f for f in filters if f.type != TAG)
    tags = (event.tag,) if event.tag else ()
    candidate = Candidate(event.repository, event.digest or "", tags)
    return select_candidate(filters, candidate) is not None


def _listening_query() -> Any:
    return select(ReplicationPolicy).where(
        ReplicationPolicy.enabled.is_(True), ReplicationPolicy.src_registry_id.is_(None)
    )


async def _listening(session: AsyncSession) -> tuple[_Listening, ...]:
    rows = await session.execute(_listening_query())
    return tuple(
        _Listening(policy.id, list(policy.filters or []), bool(policy.replicate_deletion))
        for policy in rows.scalars()
        if policy.trigger.get("type") == EVENT_BASED
    )


def replication_subscriber(sessions: async_sessionmaker[AsyncSession]) -> Subscriber:
    listening = Directory("replication policies", sessions, _listening, (ReplicationPolicy,))

    async def on_event(event: ArtifactEvent) -> None:
        if event.kind != PUSH_ARTIFACT and event.kind not in DELETIONS:
            return
        hearing = [p.id for p in await listening.current() if _hears(p, event)]
        if not hearing:
            return  # what the database holds decides below; this only spares the query
        async with sessions() as session:
            rows = await session.execute(
                _listening_query().where(ReplicationPolicy.id.in_(hearing))
            )
            for policy in rows.scalars():
                if policy.trigger.get("type") != EVENT_BASED:
                    continue
                if _hears(policy, event):
                    await start_execution(
                        session, policy, EVENT_BASED, event=event_of(event), by=event.operator
                    )
            await session.commit()

    return on_event
