"""Reading the audit log. Entries are only ever appended (see events.record)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import AuditLog


async def list_logs(
    session: AsyncSession,
    *,
    project_id: int | None = None,
    conditions: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[AuditLog], int]:
    """Newest first, unless ``order_by`` says otherwise."""
    query = select(AuditLog)
    if project_id is not None:
        query = query.where(AuditLog.project_id == project_id)
    for condition in conditions:
        query = query.where(condition)
    total = int(
        (await session.execute(query.with_only_columns(func.count(AuditLog.id)))).scalar_one()
    )
    order = list(order_by) or [AuditLog.op_time.desc(), AuditLog.id.desc()]
    rows = await session.execute(query.order_by(*order).offset(offset).limit(limit))
    return list(rows.scalars()), total
