"""Which artifacts a list shows: the maintained ``artifacts.top_level`` flag.

An artifact is shown under another, so lists hide it as Harbor does, when an index of its
repository names it (that index's child) or when it is an accessory whose subject the index
holds. Testing that for every row a page skips costs a page in the middle of a million
artifacts hundreds of milliseconds, so each artifact carries the answer (``top_level``) and a
listing reads ``ix_artifacts_repository_top_level_push_time_id`` in order.

The flag is set from :data:`COMPUTED_IS_CHILD` wherever an answer may change, by
:func:`refresh`: a push (the artifact itself, the children its references name, the
accessories waiting for its digest), a referrers-tag-schema link, and a delete (the children of
the deleted indexes, the accessories of the deleted subjects). Migration 0131 computes it for
the rows already there; :func:`refresh_repository` does it for a repository written in bulk.

Beside it, ``artifact_listing_counts`` holds each repository's number of top-level rows, moved
by the same writes (:func:`shown_added`, and :func:`refresh` by the flags it turns), so a
listing's count is one row, not a count of a million index entries. A repository without its
row (rows written past these functions) is counted from the index, and given its row by the
next write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from harborlite.artifacts.models import ListingCount
from harborlite.db.models import Artifact, ArtifactReference

_SUBJECT = aliased(Artifact)

# An accessory whose subject the index holds: shown under it, not among the artifacts.
IS_LINKED_ACCESSORY: ColumnElement[bool] = and_(
    Artifact.subject_digest.is_not(None),
    exists().where(
        _SUBJECT.repository_id == Artifact.repository_id,
        _SUBJECT.digest == Artifact.subject_digest,
    ),
)

# The rule itself, tested row by row: an index's child, or a linked accessory.
COMPUTED_IS_CHILD: ColumnElement[bool] = or_(
    exists().where(ArtifactReference.child_id == Artifact.id), IS_LINKED_ACCESSORY
)

# The maintained answer, as lists read it (``TOP_LEVEL`` is the indexable form).
TOP_LEVEL: ColumnElement[bool] = Artifact.top_level == true()
IS_CHILD: ColumnElement[bool] = Artifact.top_level == false()


async def refresh(
    session: AsyncSession,
    repository_id: int,
    *,
    ids: Iterable[int] = (),
    subjects: Iterable[str] = (),
) -> None:
    """Recompute the flag of the artifacts ``ids`` and of the accessories of the digests
    ``subjects`` in the repository (one UPDATE; nothing when both are empty)."""
    id_list = sorted(set(ids))
    subject_list = sorted(set(subjects))
    targets: list[ColumnElement[bool]] = []
    if id_list:
        targets.append(Artifact.id.in_(id_list))
    if subject_list:
        targets.append(Artifact.subject_digest.in_(subject_list))
    if not targets:
        return
    turned = await session.execute(
        update(Artifact)
        .where(
            Artifact.repository_id == repository_id,
            or_(*targets),
            Artifact.top_level == COMPUTED_IS_CHILD,  # only the flags that are wrong now
        )
        .values(top_level=~COMPUTED_IS_CHILD)
        .returning(Artifact.top_level)
        .execution_options(synchronize_session=False)
    )
    await shown_added(session, repository_id, sum(1 if flag else -1 for flag in turned.scalars()))


def _counted(repository_id: int) -> Select[Any]:
    return (
        select(func.count())
        .select_from(Artifact)
        .where(Artifact.repository_id == repository_id, TOP_LEVEL)
    )


def shown_count(repository_id: int) -> Select[Any]:
    """The repository's top-level artifacts: its kept count, else counted from the index."""
    kept = (
        select(ListingCount.top_level)
        .where(ListingCount.repository_id == repository_id)
        .scalar_subquery()
    )
    return select(func.coalesce(kept, _counted(repository_id).scalar_subquery()))


def _upsert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ListingCount)


async def shown_added(session: AsyncSession, repository_id: int, delta: int) -> None:
    """``delta`` more top-level rows in the repository (written, deleted or turned): its kept
    count moves by it; a repository without one gets it counted (the rows are written)."""
    if delta == 0:
        return
    statement = _upsert(session).values(
        repository_id=repository_id, top_level=_counted(repository_id).scalar_subquery()
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[ListingCount.repository_id],
            set_={"top_level": ListingCount.top_level + delta},
        )
    )


async def recount(session: AsyncSession, repository_id: int) -> None:
    """The repository's kept count from its flags (after :func:`refresh_repository`)."""
    counted = _counted(repository_id).scalar_subquery()
    statement = _upsert(session).values(repository_id=repository_id, top_level=counted)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[ListingCount.repository_id],
            set_={"top_level": statement.excluded.top_level},
        )
    )


async def refresh_repository(session: AsyncSession, repository_id: int) -> None:
    """Recompute the flag of every artifact of the repository (after rows written in bulk)."""
    await session.execute(
        update(Artifact)
        .where(Artifact.repository_id == repository_id)
        .values(top_level=~COMPUTED_IS_CHILD)
        .execution_options(synchronize_session=False)
    )
    await recount(session, repository_id)
