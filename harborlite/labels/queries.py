"""Labels and the artifacts carrying them, in the database. Each function takes a session."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Artifact, ArtifactLabel, Label, utcnow

GLOBAL, PROJECT = "g", "p"


async def get_label(session: AsyncSession, label_id: int) -> Label | None:
    return await session.get(Label, label_id)


async def find_label(
    session: AsyncSession, name: str, scope: str, project_id: int | None
) -> Label | None:
    """The label of that name in the same scope (and project), if there is one."""
    query = select(Label).where(Label.name == name, Label.scope == scope)
    if project_id is None:
        query = query.where(Label.project_id.is_(None))
    else:
        query = query.where(Label.project_id == project_id)
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def others_named(session: AsyncSession, label: Label) -> int:
    """How many other labels share ``label``'s name in its scope (and project)."""
    query = select(func.count(Label.id)).where(
        Label.name == label.name, Label.scope == label.scope, Label.id != label.id
    )
    if label.project_id is None:
        query = query.where(Label.project_id.is_(None))
    else:
        query = query.where(Label.project_id == label.project_id)
    return int((await session.execute(query)).scalar_one())


async def lock_name(session: AsyncSession, name: str) -> None:
    """Make writers of labels named ``name`` wait for each other until their transactions end.

    The unique key (name, scope, project) does not hold for global labels (their project is
    NULL, and NULLs differ), so a name is checked after a lock: on PostgreSQL a transaction
    advisory lock on the name; on SQLite nothing here, as the insert or update that comes
    before the check opens the one write transaction the database allows at a time."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"harborlite label {name}".encode())
        await session.execute(select(func.pg_advisory_xact_lock(key)))


def new_label(
    session: AsyncSession,
    *,
    name: str,
    description: str,
    color: str,
    scope: str,
    project_id: int | None,
) -> Label:
    """A label added to the session, not flushed yet (the caller flushes)."""
    label = Label(
        name=name, description=description, color=color, scope=scope, project_id=project_id
    )
    session.add(label)
    return label


def change_label(label: Label, *, name: str, description: str, color: str) -> None:
    """Change the label in the session (the caller flushes)."""
    label.name = name
    label.description = description
    label.color = color
    label.update_time = utcnow()


async def delete_label(session: AsyncSession, label: Label) -> None:
    """Forget the label; the artifacts carrying it lose it."""
    await session.execute(delete(ArtifactLabel).where(ArtifactLabel.label_id == label.id))
    await session.delete(label)
    await session.flush()


async def list_labels(
    session: AsyncSession,
    *,
    scope: str,
    project_id: int | None,
    name: str | None = None,
    conditions: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[Label], int]:
    """Global labels, or the labels of one project; a page and the total."""
    query = select(Label).where(Label.scope == scope)
    if scope == PROJECT:
        query = query.where(Label.project_id == project_id)
    if name:
        query = query.where(Label.name.contains(name, autoescape=True))
    for condition in conditions:
        query = query.where(condition)
    count = query.with_only_columns(func.count(Label.id)).order_by(None)
    total = int((await session.execute(count)).scalar_one())
    order = list(order_by) or [Label.creation_time.desc(), Label.id.desc()]
    rows = await session.execute(query.order_by(*order).offset(offset).limit(limit))
    return list(rows.scalars()), total


async def labels_for(session: AsyncSession, artifact_ids: Sequence[int]) -> dict[int, list[Label]]:
    """artifact id -> its labels, oldest attachment first (one query for every artifact)."""
    if not artifact_ids:
        return {}
    rows = await session.execute(
        select(ArtifactLabel.artifact_id, Label)
        .join(Label, Label.id == ArtifactLabel.label_id)
        .where(ArtifactLabel.artifact_id.in_(artifact_ids))
        .order_by(ArtifactLabel.id)
    )
    result: dict[int, list[Label]] = {}
    for artifact_id, label in rows.all():
        result.setdefault(artifact_id, []).append(label)
    return result


async def find_attachment(
    session: AsyncSession, artifact_id: int, label_id: int
) -> ArtifactLabel | None:
    rows = await session.execute(
        select(ArtifactLabel).where(
            ArtifactLabel.artifact_id == artifact_id, ArtifactLabel.label_id == label_id
        )
    )
    return rows.scalar_one_or_none()


async def attach(session: AsyncSession, artifact_id: int, label_id: int) -> ArtifactLabel:
    attachment = ArtifactLabel(artifact_id=artifact_id, label_id=label_id)
    session.add(attachment)
    await session.flush()
    return attachment


async def detach(session: AsyncSession, attachment: ArtifactLabel) -> None:
    await session.delete(attachment)
    await session.flush()


def carries_all(label_ids: Sequence[int]) -> ColumnElement[bool]:
    """Artifacts carrying every one of ``label_ids`` (Harbor's ``q=labels=(1 2)``)."""
    condition: ColumnElement[bool] = exists().where(
        ArtifactLabel.artifact_id == Artifact.id, ArtifactLabel.label_id == label_ids[0]
    )
    for label_id in label_ids[1:]:
        condition = condition & exists().where(
            ArtifactLabel.artifact_id == Artifact.id, ArtifactLabel.label_id == label_id
        )
    return condition
