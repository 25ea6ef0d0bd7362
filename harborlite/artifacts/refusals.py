"""A registry request refused: the pulls and pushes that failed, written to the audit log.

Harbor's users ask "who tried to pull this, and why did it fail?" and its audit log cannot
answer: only what succeeded is there. Here a refused pull, push or delete (the caller lacks the
right, or the project does not exist) is an entry with ``success`` false and the reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import DELETE, PULL, PUSH, Actor, record
from harborlite.projects import queries as projects

REPEAT_SECONDS = 60.0  # the same refusal again within this is in the access log only
MAX_PER_SECOND = 20.0  # refusal entries written per second at most, whatever their names


@dataclass(frozen=True)
class Refused:
    """What a registry request asked that it may not have."""

    repository: str  # the repository refused (a mount's source when that is what failed)
    reference: str  # tag, digest or upload id; "" when none
    method: str  # the HTTP method: GET/HEAD pull, DELETE delete, the others push

    @property
    def project(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def operation(self) -> str:
        if self.method in ("GET", "HEAD"):
            return PULL
        return DELETE if self.method == "DELETE" else PUSH


async def record_refusal(
    session: AsyncSession, actor: Actor, refused: Refused, reason: str, *, write: bool = True
) -> bool:
    """Write the refusal (in the caller's transaction) when ``write``; whether the refused
    project exists. ``reason`` says what was missing; a project that does not exist is the
    reason itself.
    """
    project = await projects.get_project_by_name(session, refused.project)
    if not write:
        return project is not None
    resource = refused.repository
    if refused.reference and not refused.reference.startswith("sha256:"):
        resource += f":{refused.reference}"
    elif refused.reference:
        resource += f"@{refused.reference}"
    record(
        session,
        actor.event(
            refused.operation,
            "repository",
            resource,
            project_id=project.id if project is not None else None,
            success=False,
            detail=reason if project is not None else f"project {refused.project} not found",
        ),
    )
    return project is not None


@dataclass
class RefusalThrottle:
    """Which refusals get an audit entry: the first of a kind (who, from where, what) in a
    minute, and no more than ``MAX_PER_SECOND`` in all. A client retrying, or a flood of
    refused requests under made-up names, cannot grow the audit table without bound; the
    access log still has a line for every one."""

    repeat_seconds: float = REPEAT_SECONDS
    per_second: float = MAX_PER_SECOND
    _seen: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    _allowance: float = MAX_PER_SECOND
    _checked: float | None = None

    def worth_recording(self, username: str, client_ip: str, refused: Refused) -> bool:
        now = time.monotonic()
        key = (username, client_ip, refused.repository, refused.operation)
        last = self._seen.get(key)
        if last is not None and now - last < self.repeat_seconds:
            return False
        elapsed = 0.0 if self._checked is None else max(0.0, now - self._checked)
        self._allowance = min(self.per_second, self._allowance + elapsed * self.per_second)
        self._checked = now
        if self._allowance < 1:
            return False
        self._allowance -= 1
        if len(self._seen) >= 10_000:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self.repeat_seconds}
        self._seen[key] = now
        return True
