"""One page of artifacts and how many there are: the listing queries' shared tail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Artifact

NEWEST_FIRST: list[Any] = [Artifact.push_time.desc(), Artifact.id.desc()]
OLDEST_FIRST: list[Any] = [Artifact.push_time.asc(), Artifact.id.asc()]


async def page_of(
    session: AsyncSession,
    query: Select[Artifact],
    *,
    conditions: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any],
    offset: int,
    limit: int,
    count: Select[Any] | None = None,
) -> tuple[list[Artifact], int]:
    """``query`` narrowed by ``conditions``: the page (newest push first unless ``order_by``
    says otherwise) and the count of all (by ``count`` when the caller has a cheaper one)."""
    for condition in conditions:
        query = query.where(condition)
    counting: Select[Any] = (
        count
        if count is not None
        else query.with_only_columns(func.count(Artifact.id)).order_by(None)
    )
    total = int((await session.execute(counting)).scalar_one())
    order = list(order_by) or NEWEST_FIRST
    reverse = not order_by and offset > total // 2 and offset < total
    if reverse:  # past the middle: from the oldest end, fewer index entries to skip
        limit = min(limit, total - offset)
        offset = total - offset - limit
        order = OLDEST_FIRST
    # the page's ids from the index alone (skipped rows are index entries, never table rows),
    # then those rows
    ids = query.with_only_columns(Artifact.id).order_by(*order).offset(offset).limit(limit)
    rows = await session.execute(
        select(Artifact).where(Artifact.id.in_(ids.scalar_subquery())).order_by(*order)
    )
    page = list(rows.scalars())
    return (page[::-1] if reverse else page), total
