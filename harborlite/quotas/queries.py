"""Quota rows, the blobs a project holds, and its usage. Each function takes a session.

Usage is one query over ``quota_blobs``: a row counts when a push touched it within the
window (:func:`counted`), when it is a manifest the artifact index lists in the project, or
when such a manifest names it. Deleting an artifact from the index is enough for its blobs to
stop counting; no bookkeeping has to follow it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Subquery,
    delete,
    exists,
    func,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from harborlite.db.models import Artifact, Project, Repository, User, table_of, utcnow
from harborlite.quotas.models import UNLIMITED, Configuration, Quota, QuotaBlob, QuotaReference

STORAGE_PER_PROJECT = "storage_per_project"


# --- what counts -------------------------------------------------------------------------------


def _indexed(digest: Any, project_id: Any) -> ColumnElement[bool]:
    """An artifact of the project (any of its repositories) has this manifest digest."""
    artifact, repository = aliased(Artifact), aliased(Repository)
    return exists().where(
        artifact.digest == digest,
        artifact.repository_id == repository.id,
        repository.project_id == project_id,
    )


def counted(cutoff: datetime, row: type[QuotaBlob] | Any = QuotaBlob) -> ColumnElement[bool]:
    """Whether a ``quota_blobs`` row (``row``, correlated) counts against its project: for a
    few rows (a push's digests); a whole project is counted by :func:`counted_rows`."""
    edge, named_by = aliased(QuotaReference), aliased(QuotaBlob)
    manifest_pending = exists().where(
        named_by.project_id == edge.project_id,
        named_by.digest == edge.manifest_digest,
        named_by.pending_since >= cutoff,
    )
    referenced = exists().where(
        edge.project_id == row.project_id,
        edge.blob_digest == row.digest,
        or_(_indexed(edge.manifest_digest, edge.project_id), manifest_pending),
    )
    return or_(row.pending_since >= cutoff, _indexed(row.digest, row.project_id), referenced)


def counted_rows(cutoff: datetime, project_ids: Collection[int] | None = None) -> Subquery:
    """``(project_id, digest)`` of every row that counts, set-based (hash joins, no row-by-row
    subquery): manifests the index lists and pending rows, then what those manifests name."""
    held = select(Repository.project_id.label("project_id"), Artifact.digest.label("digest"))
    held = held.join(Artifact, Artifact.repository_id == Repository.id)
    pending = select(QuotaBlob.project_id, QuotaBlob.digest).where(
        QuotaBlob.pending_since >= cutoff
    )
    named = select(QuotaReference.project_id, QuotaReference.blob_digest)
    if project_ids is not None:
        ids = list(project_ids)
        held = held.where(Repository.project_id.in_(ids))
        pending = pending.where(QuotaBlob.project_id.in_(ids))
        named = named.where(QuotaReference.project_id.in_(ids))
    live = union(held, pending).cte("live_manifests")
    named = named.join(
        live,
        (live.c.project_id == QuotaReference.project_id)
        & (live.c.digest == QuotaReference.manifest_digest),
    )
    return union(select(live.c.project_id, live.c.digest), named).subquery("counted")


def _joined(counted: Subquery) -> ColumnElement[bool]:
    return (counted.c.project_id == QuotaBlob.project_id) & (counted.c.digest == QuotaBlob.digest)


async def usage(session: AsyncSession, project_id: int, cutoff: datetime) -> int:
    counted_set = counted_rows(cutoff, [project_id])
    query = (
        select(func.coalesce(func.sum(QuotaBlob.size), 0))
        .join(counted_set, _joined(counted_set))
        .where(QuotaBlob.project_id == project_id)
    )
    return int((await session.execute(query)).scalar_one())


async def usages(
    session: AsyncSession, project_ids: Collection[int] | None, cutoff: datetime
) -> dict[int, int]:
    """project id -> usage, for these projects (None: every project), in one query."""
    if project_ids is not None and not project_ids:
        return {}
    counted_set = counted_rows(cutoff, project_ids)
    query = select(QuotaBlob.project_id, func.sum(QuotaBlob.size)).join(
        counted_set, _joined(counted_set)
    )
    rows = await session.execute(query.group_by(QuotaBlob.project_id))
    return {project_id: int(total or 0) for project_id, total in rows.all()}


async def counted_digests(
    session: AsyncSession, project_id: int, digests: Collection[str], cutoff: datetime
) -> set[str]:
    """Which of ``digests`` the project holds and counts already."""
    if not digests:
        return set()
    rows = await session.execute(
        select(QuotaBlob.digest).where(
            QuotaBlob.project_id == project_id,
            QuotaBlob.digest.in_(list(digests)),
            counted(cutoff),
        )
    )
    return set(rows.scalars())


# --- quota rows ----------------------------------------------------------------------------


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing``."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def ensure_quota(session: AsyncSession, project_id: int, hard: int) -> None:
    """Create the project's quota with ``hard`` unless it has one (a concurrent creator wins)."""
    statement = _insert(session)(Quota).values(
        project_id=project_id, hard_storage=hard, creation_time=utcnow(), update_time=utcnow()
    )
    await session.execute(statement.on_conflict_do_nothing(index_elements=["project_id"]))


async def ensure_all_quotas(session: AsyncSession, hard: int) -> None:
    """A quota for every project that has none (created by the portal, the CLI, or before
    quotas existed), with ``hard``."""
    missing = await session.execute(
        select(Project.id).where(~exists().where(Quota.project_id == Project.id))
    )
    for project_id in missing.scalars().all():
        await ensure_quota(session, project_id, hard)


async def lock_quota(session: AsyncSession, project_id: int) -> int | None:
    """Hold the project's quota row until the transaction ends and give its hard limit (None
    when the project has no quota row). A write that changes nothing: PostgreSQL locks the row,
    SQLite opens its write transaction, so what is read after it is current; call it first."""
    result = await session.execute(
        update(Quota)
        .where(Quota.project_id == project_id)
        .values(update_time=Quota.update_time)
        .returning(Quota.hard_storage)
        .execution_options(synchronize_session=False)
    )
    hard = result.scalar_one_or_none()
    return None if hard is None else int(hard)


async def hard_of(session: AsyncSession, project_id: int) -> int | None:
    """The project's hard limit, read without a lock (None when it has no quota row)."""
    result = await session.execute(select(Quota.hard_storage).where(Quota.project_id == project_id))
    hard = result.scalar_one_or_none()
    return None if hard is None else int(hard)


async def project_and_hard(session: AsyncSession, name: str) -> tuple[int, int | None] | None:
    """The project's id and hard limit (None: no quota row), in one query; None when there is
    no such project."""
    result = await session.execute(
        select(Project.id, Quota.hard_storage)
        .outerjoin(Quota, Quota.project_id == Project.id)
        .where(Project.name == name)
    )
    row = result.first()
    if row is None:
        return None
    return int(row[0]), None if row[1] is None else int(row[1])


async def get_quota(session: AsyncSession, quota_id: int) -> Quota | None:
    return await session.get(Quota, quota_id)


async def quota_of(session: AsyncSession, project_id: int) -> Quota | None:
    result = await session.execute(select(Quota).where(Quota.project_id == project_id))
    return result.scalar_one_or_none()


async def set_hard(session: AsyncSession, quota: Quota, hard: int) -> None:
    quota.hard_storage = hard
    quota.update_time = utcnow()
    await session.flush()


async def list_quotas(
    session: AsyncSession,
    *,
    project_id: int | None,
    order_by: Sequence[Any] = (),
    offset: int | None = 0,
    limit: int | None = 10,
) -> tuple[list[tuple[Quota, Project, str]], int]:
    """Quotas with their project and its owner's name; a page (no limit: all) and the total."""
    query = select(Quota, Project, func.coalesce(User.username, "")).join(
        Project, Project.id == Quota.project_id
    )
    query = query.outerjoin(User, User.id == Project.owner_id)
    if project_id is not None:
        query = query.where(Quota.project_id == project_id)
    total = int(
        (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    )
    query = query.order_by(*order_by, Quota.id).offset(offset).limit(limit)
    rows = await session.execute(query)
    return [(quota, project, str(owner)) for quota, project, owner in rows.all()], total


# --- blobs ---------------------------------------------------------------------------------


async def blob_rows(
    session: AsyncSession, project_id: int, digests: Collection[str]
) -> dict[str, QuotaBlob]:
    if not digests:
        return {}
    rows = await session.execute(
        select(QuotaBlob).where(
            QuotaBlob.project_id == project_id, QuotaBlob.digest.in_(list(digests))
        )
    )
    return {row.digest: row for row in rows.scalars()}


async def known_size(session: AsyncSession, digest: str) -> int | None:
    """The size any project recorded for a blob (the blob is the same wherever it is)."""
    result = await session.execute(
        select(QuotaBlob.size).where(QuotaBlob.digest == digest).limit(1)
    )
    size = result.scalar_one_or_none()
    return None if size is None else int(size)


async def references_of(session: AsyncSession, project_id: int, manifest_digest: str) -> set[str]:
    rows = await session.execute(
        select(QuotaReference.blob_digest).where(
            QuotaReference.project_id == project_id,
            QuotaReference.manifest_digest == manifest_digest,
        )
    )
    return set(rows.scalars())


def add_references(
    session: AsyncSession, project_id: int, manifest_digest: str, blob_digests: Collection[str]
) -> None:
    for blob_digest in blob_digests:
        session.add(
            QuotaReference(
                project_id=project_id, manifest_digest=manifest_digest, blob_digest=blob_digest
            )
        )


async def insert_blob(
    session: AsyncSession, project_id: int, digest: str, size: int, pending_since: datetime
) -> bool:
    """Record the blob as pending unless the project has a row for it; whether it was new.
    A Core statement on the table: no ORM object is loaded or changed, and the ORM's bulk
    insert path costs more than the statement (every blob upload runs it)."""
    table = table_of(QuotaBlob)
    statement = _insert(session)(table).values(
        project_id=project_id, digest=digest, size=size, pending_since=pending_since
    )
    statement = statement.on_conflict_do_nothing(index_elements=["project_id", "digest"])
    result = await session.execute(statement.returning(table.c.id))
    return result.first() is not None


async def insert_references(
    session: AsyncSession, project_id: int, manifest_digest: str, blob_digests: Sequence[str]
) -> None:
    """The manifest names these blobs: one INSERT, the edges recorded already left as they are
    (no read first)."""
    rows = [
        {"project_id": project_id, "manifest_digest": manifest_digest, "blob_digest": digest}
        for digest in blob_digests
    ]
    for start in range(0, len(rows), 1000):  # within the drivers' bound parameters
        statement = _insert(session)(table_of(QuotaReference)).values(rows[start : start + 1000])
        await session.execute(
            statement.on_conflict_do_nothing(
                index_elements=["project_id", "manifest_digest", "blob_digest"]
            )
        )


async def settle(session: AsyncSession, project_id: int, manifest_digest: str) -> None:
    """A manifest left the registry (deleted): it and the blobs it names stop counting as
    pending; they count on only while an artifact of the project still holds them."""
    named = select(QuotaReference.blob_digest).where(
        QuotaReference.project_id == project_id,
        QuotaReference.manifest_digest == manifest_digest,
    )
    await session.execute(
        update(QuotaBlob)
        .where(
            QuotaBlob.project_id == project_id,
            or_(QuotaBlob.digest == manifest_digest, QuotaBlob.digest.in_(named)),
        )
        .values(pending_since=None)
        .execution_options(synchronize_session=False)
    )


async def unsettled_manifest(
    session: AsyncSession, project_id: int, manifest_digest: str, since: datetime
) -> None:
    """A manifest push the registry refused: the manifest stops counting as pending."""
    await session.execute(
        update(QuotaBlob)
        .where(
            QuotaBlob.project_id == project_id,
            QuotaBlob.digest == manifest_digest,
            QuotaBlob.manifest.is_(True),
            QuotaBlob.pending_since >= since,
        )
        .values(pending_since=None)
        .execution_options(synchronize_session=False)
    )


async def uncounted_blobs(
    session: AsyncSession, project_id: int, cutoff: datetime, limit: int
) -> list[tuple[QuotaBlob, bool]]:
    """Blobs (not manifests) no artifact of the project holds: those of a push in flight or
    abandoned, and those of deleted artifacts; each with whether it still counts (its push is
    within the window)."""
    held = select(Repository.project_id.label("project_id"), Artifact.digest.label("digest"))
    held = held.join(Artifact, Artifact.repository_id == Repository.id).where(
        Repository.project_id == project_id
    )
    live = held.cte("held_manifests")
    kept = (
        select(QuotaReference.blob_digest.label("digest"))
        .join(
            live,
            (live.c.project_id == QuotaReference.project_id)
            & (live.c.digest == QuotaReference.manifest_digest),
        )
        .where(QuotaReference.project_id == project_id)
    )
    rows = await session.execute(
        select(QuotaBlob, counted(cutoff))
        .where(
            QuotaBlob.project_id == project_id,
            QuotaBlob.manifest.is_(False),
            QuotaBlob.digest.not_in(kept),
        )
        .order_by(QuotaBlob.pending_since.desc(), QuotaBlob.id)
        .limit(limit)
    )
    return [(row, bool(counts)) for row, counts in rows.all()]


async def forget_unheld(session: AsyncSession, project_id: int, cutoff: datetime) -> int:
    """Drop what no push in flight (within the window) and no recorded manifest needs:
    references of manifests that are neither artifacts nor pending, then rows that nothing
    counts. How many rows went."""
    pending_manifest = aliased(QuotaBlob)
    stale_edges = delete(QuotaReference).where(
        QuotaReference.project_id == project_id,
        ~_indexed(QuotaReference.manifest_digest, QuotaReference.project_id),
        ~exists().where(
            pending_manifest.project_id == QuotaReference.project_id,
            pending_manifest.digest == QuotaReference.manifest_digest,
            pending_manifest.pending_since >= cutoff,
        ),
    )
    await session.execute(stale_edges.execution_options(synchronize_session=False))
    counted_set = counted_rows(cutoff, [project_id])
    doomed = await session.execute(
        select(QuotaBlob.id)
        .outerjoin(counted_set, _joined(counted_set))
        .where(QuotaBlob.project_id == project_id, counted_set.c.digest.is_(None))
    )
    ids = list(doomed.scalars())
    for start in range(0, len(ids), 500):
        await session.execute(
            delete(QuotaBlob)
            .where(QuotaBlob.id.in_(ids[start : start + 500]))
            .execution_options(synchronize_session=False)
        )
    return len(ids)


async def artifact_digests(session: AsyncSession, project_id: int) -> dict[str, str]:
    """manifest digest -> one repository of the project holding it, from the artifact index."""
    rows = await session.execute(
        select(Artifact.digest, func.min(Repository.name))
        .join(Repository, Repository.id == Artifact.repository_id)
        .where(Repository.project_id == project_id)
        .group_by(Artifact.digest)
    )
    return {digest: name for digest, name in rows.all()}


# --- configuration -------------------------------------------------------------------------


async def configured(session: AsyncSession, key: str) -> Any:
    row = await session.get(Configuration, key)
    return None if row is None else row.value


async def configure(session: AsyncSession, key: str, value: Any) -> None:
    row = await session.get(Configuration, key)
    if row is None:
        session.add(Configuration(key=key, value=value, update_time=utcnow()))
    else:
        row.value = value
        row.update_time = utcnow()
    await session.flush()


async def default_hard(session: AsyncSession) -> int:
    """``storage_per_project``: the hard limit new projects get (-1 until an admin sets one)."""
    value = await configured(session, STORAGE_PER_PROJECT)
    return value if isinstance(value, int) and not isinstance(value, bool) else UNLIMITED
