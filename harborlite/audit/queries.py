"""Reading the audit log. Entries are only ever appended (see events.record)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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


async def daily_counts(
    session: AsyncSession, since: datetime, operations: Sequence[str]
) -> list[tuple[str, str, int]]:
    """(day as YYYY-MM-DD, operation, count) since ``since``, for the dashboard chart."""
    rows = await session.execute(
        select(AuditLog.op_time, AuditLog.operation).where(
            AuditLog.op_time >= since, AuditLog.operation.in_(operations)
        )
    )
    counts: dict[tuple[str, str], int] = {}
    for op_time, operation in rows.all():
        key = (op_time.strftime("%Y-%m-%d"), operation)
        counts[key] = counts.get(key, 0) + 1
    return [(day, op, n) for (day, op), n in sorted(counts.items())]
