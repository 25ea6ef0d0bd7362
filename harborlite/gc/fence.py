"""The fence between a running garbage collection and the pushes that go on meanwhile.

A blob the collection marked (``delete``) and a client then touches (asks whether it exists,
mounts it, uploads it, names it in a manifest) is taken back: the collection's later
compare-and-set from ``delete`` to ``deleting`` fails, and the blob stays. A blob already
``deleting`` is as good as gone: ``HEAD`` answers 404 (the client uploads it again), a
manifest naming it is refused with ``MANIFEST_BLOB_UNKNOWN``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import GcCandidate

MARKED, DELETING, KEPT = "delete", "deleting", "kept"


async def touch(session: AsyncSession, digests: Collection[str]) -> set[str]:
    """Take back the blobs among ``digests`` for the running collection, durably: a marked
    one becomes ``kept``, and one not recorded yet gets a ``kept`` row, which the collection's
    later candidates do not overwrite (a manifest checked before they were recorded, and
    written by the registry after the second mark, keeps what it names). The digests already
    being deleted are returned."""
    if not digests:
        return set()
    await session.execute(
        update(GcCandidate)
        .where(GcCandidate.digest.in_(digests), GcCandidate.status == MARKED)
        .values(status=KEPT)
    )
    await insert_ignoring_duplicates(
        session, [{"digest": d, "status": KEPT, "size": 0, "execution_id": 0} for d in digests]
    )
    going = await session.execute(
        select(GcCandidate.digest).where(
            GcCandidate.digest.in_(digests), GcCandidate.status == DELETING
        )
    )
    return set(going.scalars())


async def insert_ignoring_duplicates(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Insert candidate rows, leaving any row already there as it is (SQLite and PostgreSQL
    both say ``ON CONFLICT DO NOTHING``)."""
    if not rows:
        return
    statement: Any
    if session.get_bind().dialect.name == "postgresql":
        statement = postgresql_insert(GcCandidate).values(rows).on_conflict_do_nothing()
    else:
        statement = sqlite_insert(GcCandidate).values(rows).on_conflict_do_nothing()
    await session.execute(statement)
