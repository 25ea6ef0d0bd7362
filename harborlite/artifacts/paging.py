"""One page of artifacts and how many there are: the listing queries' shared tail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Artifact


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
    order = list(order_by) or [Artifact.push_time.desc(), Artifact.id.desc()]
    rows = await session.execute(query.order_by(*order).offset(offset).limit(limit))
    return list(rows.scalars()), total
