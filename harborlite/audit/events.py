"""Audit events: typed records with stable names, written through one function."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.timing import PENDING, STARTED
from harborlite.db.models import AuditLog, table_of, utcnow

log = logging.getLogger("harborlite.audit")

# Operations (Harbor's names, plus login/logout)
CREATE, DELETE, UPDATE, PULL, PUSH, LOGIN, LOGOUT = (
    "create",
    "delete",
    "update",
    "pull",
    "push",
    "login",
    "logout",
)


@dataclass(frozen=True)
class Origin:
    """Where a request came from."""

    client_ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class Actor:
    """Who does something, as every audit entry names them: a user (or ``cli``) and from where."""

    username: str
    origin: Origin = Origin()

    def event(
        self,
        operation: str,
        resource_type: str,
        resource: str,
        *,
        project_id: int | None = None,
        success: bool = True,
        detail: str = "",
    ) -> AuditEvent:
        return AuditEvent(
            self.username,
            operation,
            resource_type,
            resource,
            self.origin,
            project_id=project_id,
            success=success,
            detail=detail,
        )


CLI = Actor("cli")


@dataclass(frozen=True)
class AuditEvent:
    username: str
    operation: str
    resource_type: str  # artifact, tag, repository, project, member, user, token
    resource: str
    origin: Origin = Origin()
    project_id: int | None = None
    success: bool = True
    detail: str = ""
    op_time: datetime = field(default_factory=utcnow)


def record(session: AsyncSession, event: AuditEvent) -> None:
    """Append ``event`` in the caller's transaction: it lands with the change it describes."""
    session.info[PENDING] = True  # timed until the commit (harborlite.audit.timing)
    session.add(
        AuditLog(
            project_id=event.project_id,
            username=event.username or "anonymous",
            operation=event.operation,
            resource_type=event.resource_type,
            resource=event.resource[:512],
            op_time=event.op_time,
            client_ip=event.origin.client_ip[:64],
            user_agent=event.origin.user_agent[:512],
            success=event.success,
            detail=event.detail,
        )
    )
    log.info(
        "audit %s %s %s %s by %s%s",
        event.operation,
        event.resource_type,
        event.resource,
        "ok" if event.success else "failed",
        event.username or "anonymous",
        f" from {event.origin.client_ip}" if event.origin.client_ip else "",
    )


async def record_many(session: AsyncSession, events: list[AuditEvent]) -> None:
    """Append many events in one INSERT (the batched pulls); one log line for all of them."""
    if not events:
        return
    rows = [
        {
            "project_id": event.project_id,
            "username": event.username or "anonymous",
            "operation": event.operation,
            "resource_type": event.resource_type,
            "resource": event.resource[:512],
            "op_time": event.op_time,
            "client_ip": event.origin.client_ip[:64],
            "user_agent": event.origin.user_agent[:512],
            "success": event.success,
            "detail": event.detail,
        }
        for event in events
    ]
    session.info[PENDING] = True
    session.info.setdefault(STARTED, time.perf_counter())
    await session.execute(insert(table_of(AuditLog)), rows)  # one executemany, no ORM objects
    log.info("audit %d %s entries", len(events), events[0].operation)
