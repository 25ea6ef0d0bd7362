"""A registry request refused: the pulls and pushes that failed, written to the audit log.

Harbor's users ask "who tried to pull this, and why did it fail?" and its audit log cannot
answer: only what succeeded is there. Here a refused pull, push or delete (the caller lacks the
right, or the project does not exist) is an entry with ``success`` false and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import DELETE, PULL, PUSH, Actor, record
from harborlite.projects import queries as projects


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
    session: AsyncSession, actor: Actor, refused: Refused, reason: str
) -> bool:
    """Write the refusal (in the caller's transaction); whether the refused project exists.

    ``reason`` says what was missing; a project that does not exist is the reason itself.
    """
    project = await projects.get_project_by_name(session, refused.project)
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
