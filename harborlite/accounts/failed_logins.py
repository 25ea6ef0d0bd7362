"""The failed logins of a window, read back from the audit log: what the lockout counts from
while Redis, where the replicas share their counts, does not answer.

Every failed login (a user's or a robot's, through any surface, on any replica) is an audit
entry committed before its client hears the refusal, so the audit log is a shared count the
replicas already write. Only the failures themselves count, not the entries that say a
lockout started. One query per subject, over the window of ``ix_audit_logs_op_time``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import LOGIN
from harborlite.db.models import AuditLog, utcnow

LOCK_DETAIL = "%locked out for%"  # the entries :class:`Locked` writes (not failures)


@dataclass(frozen=True)
class Counted:
    """One subject's failures in the window, capped at ``limit``, and when the window lets
    it in again (None: not locked)."""

    failures: int
    until: datetime | None


async def _count(
    session: AsyncSession, where: ColumnElement[bool], limit: int, window: timedelta, now: datetime
) -> Counted:
    times = (
        await session.execute(
            select(AuditLog.op_time)
            .where(
                AuditLog.op_time > now - window,
                AuditLog.operation == LOGIN,
                AuditLog.success.is_(False),
                AuditLog.resource_type.in_(("user", "robot")),
                not_(AuditLog.detail.like(LOCK_DETAIL)),
                where,
            )
            .order_by(AuditLog.op_time.desc())
            .limit(limit)
        )
    ).scalars()
    found = list(times)
    if len(found) < limit:
        return Counted(len(found), None)
    # the sliding window holds ``limit`` failures until the limit-th newest leaves it
    return Counted(len(found), found[-1] + window)


async def failures_in_window(
    session: AsyncSession,
    account: str,
    address: str,
    limits: tuple[int, int],
    window: timedelta,
) -> tuple[Counted, Counted]:
    """The failures on ``account`` (a user's or robot's login name, any case) and from
    ``address`` in the last ``window``."""
    now = utcnow()
    by_account = await _count(
        session, func.lower(AuditLog.resource) == account.lower(), limits[0], window, now
    )
    by_address = await _count(session, AuditLog.client_ip == address[:64], limits[1], window, now)
    return by_account, by_address


def seconds_until(until: datetime | None) -> float:
    if until is None:
        return 0.0
    return max(0.0, (until - utcnow()).total_seconds())
