"""A project's trusted cosign keys: add, list, delete, once for every surface.

Who may: reading them is reading the project; adding and deleting them is updating the
project (ProjectAdmin, and system administrators), as its ``enable_content_trust_cosign``
setting is. A project holds at most :data:`MAX_KEYS` keys and never one key twice (409). Each
change is audited and drops the policies :mod:`~harborlite.signatures.cache` keeps.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import CREATE, DELETE, Actor, record
from harborlite.db.errors import flush_unique
from harborlite.db.models import Project
from harborlite.errors import BadRequest, Conflict, NotFound
from harborlite.signatures import queries
from harborlite.signatures.cache import note_change
from harborlite.signatures.keys import InvalidKey, load_key
from harborlite.signatures.models import CosignKey

MAX_KEYS = 20
MAX_NAME = 255
RESOURCE_TYPE = "cosign_key"


async def add_key(
    session: AsyncSession, project: Project, pem: object, name: object, *, by: Actor
) -> CosignKey:
    """Trust ``pem`` (a ``cosign.pub``) in the project; BadRequest for a key it cannot use,
    Conflict for one it trusts already."""
    if not isinstance(pem, str):
        raise BadRequest('"public_key" must be the PEM of cosign.pub, as a string')
    if name is None:
        name = ""
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise BadRequest(f'"name" must be a string of at most {MAX_NAME} characters')
    try:
        key = load_key(pem)
    except InvalidKey as error:
        raise BadRequest(f"invalid public key: {error}") from None
    taken = f"project {project.name} trusts this key already ({key.fingerprint})"
    if await queries.find_key(session, project.id, key.fingerprint) is not None:
        raise Conflict(taken)
    if await queries.count_keys(session, project.id) >= MAX_KEYS:
        raise BadRequest(f"a project trusts at most {MAX_KEYS} keys")
    row = CosignKey(
        project_id=project.id,
        name=name.strip(),
        algorithm=key.algorithm,
        fingerprint=key.fingerprint,
        pem=key.pem,
        creator=by.username or "",
    )
    session.add(row)
    await flush_unique(session, taken)
    note_change(session)
    record(
        session,
        by.event(
            CREATE,
            RESOURCE_TYPE,
            f"{project.name}/{key.fingerprint[:16]}",
            project_id=project.id,
            detail=f"{key.algorithm} {name}".strip(),
        ),
    )
    return row


async def key_of(session: AsyncSession, project: Project, key_id: int) -> CosignKey:
    row = await queries.get_key(session, key_id) if 0 < key_id < 2**31 else None
    if row is None or row.project_id != project.id:
        raise NotFound(f"cosign key {key_id} not found in project {project.name}")
    return row


async def delete_key(session: AsyncSession, project: Project, key_id: int, *, by: Actor) -> None:
    row = await key_of(session, project, key_id)
    await session.delete(row)
    await session.flush()
    note_change(session)
    record(
        session,
        by.event(
            DELETE,
            RESOURCE_TYPE,
            f"{project.name}/{row.fingerprint[:16]}",
            project_id=project.id,
            detail=row.algorithm,
        ),
    )
