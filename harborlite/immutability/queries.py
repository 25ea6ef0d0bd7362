"""Immutability rules and the tags they protect, in the database. Each function takes a session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Artifact, ArtifactReference, Project, Repository, Tag, utcnow
from harborlite.immutability.models import ImmutableRule
from harborlite.immutability.rules import Matcher, RuleSpec, stored_selectors

MAX_PARENT_DEPTH = 8  # indexes of indexes: how far up a delete looks for an immutable tag


async def get_rule(session: AsyncSession, rule_id: int) -> ImmutableRule | None:
    return await session.get(ImmutableRule, rule_id)


async def list_rules(
    session: AsyncSession,
    project_id: int,
    *,
    conditions: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[ImmutableRule], int]:
    """A page of the project's rules (by id, as Harbor lists them) and how many there are."""
    query = select(ImmutableRule).where(ImmutableRule.project_id == project_id)
    for condition in conditions:
        query = query.where(condition)
    total = int(
        (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    )
    order = [*order_by, ImmutableRule.id]
    rows = await session.execute(query.order_by(*order).offset(offset).limit(limit))
    return list(rows.scalars()), total


async def count_rules(session: AsyncSession, project_id: int) -> int:
    query = select(func.count(ImmutableRule.id)).where(ImmutableRule.project_id == project_id)
    return int((await session.execute(query)).scalar_one())


async def find_same(
    session: AsyncSession, project_id: int, fingerprint: str
) -> ImmutableRule | None:
    query = select(ImmutableRule).where(
        ImmutableRule.project_id == project_id, ImmutableRule.fingerprint == fingerprint
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


def new_rule(session: AsyncSession, project_id: int, spec: RuleSpec) -> ImmutableRule:
    """A rule in the session, not flushed: the caller flushes (and meets a duplicate)."""
    rule = ImmutableRule(project_id=project_id)
    apply(rule, spec)
    session.add(rule)
    return rule


def apply(rule: ImmutableRule, spec: RuleSpec) -> None:
    rule.disabled = spec.disabled
    rule.priority = spec.priority
    rule.action = spec.action
    rule.template = spec.template
    rule.params = dict(spec.params)
    rule.tag_selectors = spec.tag_selectors_json()
    rule.scope_selectors = spec.scope_selectors_json()
    rule.fingerprint = spec.fingerprint
    rule.update_time = utcnow()


async def delete_rule(session: AsyncSession, rule: ImmutableRule) -> None:
    await session.delete(rule)
    await session.flush()


def matcher_of_row(rule: ImmutableRule) -> Matcher:
    repositories = (rule.scope_selectors or {}).get("repository")
    return Matcher(stored_selectors(rule.tag_selectors), stored_selectors(repositories), rule.id)


async def enabled_matchers(session: AsyncSession, project_id: int) -> list[Matcher]:
    """The project's enabled rules, compiled."""
    rows = await session.execute(
        select(ImmutableRule)
        .where(ImmutableRule.project_id == project_id, ImmutableRule.disabled.is_(False))
        .order_by(ImmutableRule.id)
    )
    return [matcher_of_row(rule) for rule in rows.scalars()]


async def enabled_matchers_by_name(
    session: AsyncSession, project_name: str
) -> tuple[int | None, list[Matcher]]:
    """The project's id (None when there is no such project) and its enabled rules."""
    project_id = (
        await session.execute(select(Project.id).where(Project.name == project_name))
    ).scalar_one_or_none()
    if project_id is None:
        return None, []
    return project_id, await enabled_matchers(session, project_id)


async def tag_digest(session: AsyncSession, repository: str, tag: str) -> str | None:
    """The digest the index says ``repository:tag`` points at, or None when it has no such
    tag (``repository`` is the full name)."""
    query = (
        select(Artifact.digest)
        .join(Tag, Tag.artifact_id == Artifact.id)
        .join(Repository, Repository.id == Tag.repository_id)
        .where(Repository.name == repository, Tag.name == tag)
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def tags_holding(session: AsyncSession, repository: str, digest: str) -> list[str]:
    """The tags that would lose their manifest if ``digest`` were deleted from ``repository``
    (its full name): see :func:`tags_above`."""
    artifact_id = (
        await session.execute(
            select(Artifact.id)
            .join(Repository, Repository.id == Artifact.repository_id)
            .where(Repository.name == repository, Artifact.digest == digest)
        )
    ).scalar_one_or_none()
    return [] if artifact_id is None else await tags_above(session, artifact_id)


async def tags_above(session: AsyncSession, artifact_id: int) -> list[str]:
    """The artifact's tags and those of every index above it (its parents, up to
    :data:`MAX_PARENT_DEPTH` levels), sorted by name."""
    seen = {artifact_id}
    level = [artifact_id]
    for _ in range(MAX_PARENT_DEPTH):
        parents = await session.execute(
            select(ArtifactReference.parent_id).where(ArtifactReference.child_id.in_(level))
        )
        level = [p for p in set(parents.scalars()) if p not in seen]
        if not level:
            break
        seen.update(level)
    names = await session.execute(select(Tag.name).where(Tag.artifact_id.in_(seen)))
    return sorted(set(names.scalars()))
