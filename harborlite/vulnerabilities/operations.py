"""Setting the system's CVE allowlist and a project's, once for every surface.

Who may: the system's is a system administrator's (anyone signed in reads it); a project's is
part of the project, changed by whoever may update the project (its ProjectAdmin). The body is
checked whole before anything is written (:func:`~harborlite.vulnerabilities.allowlists.
checked_allowlist`): a refused one leaves the old allowlist as it was. Each change is audited
and drops the project policies the ``/v2/`` checks keep (the signature policy's change signal,
:func:`harborlite.signatures.cache.note_change`, which the project settings use too).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import UPDATE, Actor, record
from harborlite.db.errors import flush_unique
from harborlite.db.models import Project, utcnow
from harborlite.signatures.cache import note_change
from harborlite.vulnerabilities import queries
from harborlite.vulnerabilities.allowlists import CheckedAllowlist, checked_allowlist
from harborlite.vulnerabilities.models import SYSTEM_SCOPE, CveAllowlist

RESOURCE_TYPE = "cve_allowlist"
RACED = "the CVE allowlist was created by another request meanwhile: try again"


async def set_system_allowlist(session: AsyncSession, body: object, *, by: Actor) -> CveAllowlist:
    """Replace the system's allowlist with ``body`` (Harbor's ``PUT /system/CVEAllowlist``)."""
    checked = checked_allowlist(body)
    row = await queries.system_allowlist(session)
    row = await _written(session, row, SYSTEM_SCOPE, None, checked)
    record(session, by.event(UPDATE, RESOURCE_TYPE, "system", detail=_detail(checked)))
    return row


async def set_project_allowlist(
    session: AsyncSession, project: Project, body: object, *, by: Actor
) -> CveAllowlist:
    """Replace the project's allowlist with ``body`` (``cve_allowlist`` of a project's create
    or update body)."""
    checked = checked_allowlist(body)
    row = await queries.project_allowlist(session, project.id)
    row = await _written(session, row, str(project.id), project.id, checked)
    record(
        session,
        by.event(
            UPDATE, RESOURCE_TYPE, project.name, project_id=project.id, detail=_detail(checked)
        ),
    )
    return row


async def _written(
    session: AsyncSession,
    row: CveAllowlist | None,
    scope: str,
    project_id: int | None,
    checked: CheckedAllowlist,
) -> CveAllowlist:
    now = utcnow()
    if row is None:
        row = CveAllowlist(scope=scope, project_id=project_id, creation_time=now)
        session.add(row)
    row.items = list(checked.items)
    row.expires_at = checked.expires_at
    row.update_time = now
    await flush_unique(session, RACED)
    note_change(session)
    return row


def _detail(checked: CheckedAllowlist) -> str:
    expiry = "never" if checked.expires_at is None else str(checked.expires_at)
    return f"{len(checked.items)} ids, expires {expiry}"
