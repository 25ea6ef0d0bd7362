"""Immutability use cases, once for every surface: managing a project's rules, and the refusals
asked before a tag is moved or deleted.

Rules: who may is the project's policy (``immutable-tag`` create/update/delete/list:
ProjectAdmin and Maintainer, and system administrators); a project holds at most
:data:`~harborlite.immutability.rules.MAX_RULES` rules and never the same one twice (409, as
Harbor). Each change is audited and drops the rules :mod:`~harborlite.immutability.cache` keeps.

Refusals (412 ``PRECONDITION``, Harbor's message naming the repository without its project):

- a push by tag (``/v2/``) that would move an immutable tag to another digest
  (:func:`push_refusal`); the identical digest again is accepted, beyond Harbor, so a retried
  CI job does not fail; a new tag is pushed once;
- a manifest delete (``/v2/``) of an artifact holding an immutable tag, or of a manifest an
  index holding one names (:func:`delete_refusal`);
- the REST API's and the portal's tag and artifact deletes (:func:`refuse_tag_removal`,
  :func:`refuse_artifact_deletion`), and any operation that would re-point tags
  (:func:`refuse_retag`).

The ``/v2/`` checks read the rules from the cache (a push of a tag no rule selects asks the
database nothing); the others read them in the caller's session, exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import CREATE, DELETE, UPDATE, Actor, record
from harborlite.auth.permissions import Action, Principal, ProjectAccess, can
from harborlite.db.errors import flush_unique
from harborlite.db.models import Artifact, Repository
from harborlite.errors import BadRequest, Conflict, Forbidden, PreconditionFailed, Unauthorized
from harborlite.immutability import queries
from harborlite.immutability.cache import RuleCache, note_change
from harborlite.immutability.models import ImmutableRule
from harborlite.immutability.rules import (
    MAX_RULES,
    RuleSpec,
    first_immutable,
    refusal_message,
    short_name,
    stored_selectors,
)
from harborlite.oci.reference import is_digest
from harborlite.projects.queries import lock_project

RESOURCE_TYPE = "immutable_rule"
DUPLICATE = "immutable rule already exists"  # Harbor's words (pkg/immutable/dao)


def require_right(principal: Principal, access: ProjectAccess, action: Action) -> None:
    """Refuse ``action`` on the project's rules: 401 for anonymous callers, 403 for others."""
    if can(principal, access, "immutable-tag", action):
        return
    what = f"{action} immutable tag rules in project {access.name}"
    if principal.anonymous:
        raise Unauthorized(f"authentication required to {what}")
    raise Forbidden(f"{principal.username} is not allowed to {what}")


def spec_of(rule: ImmutableRule) -> RuleSpec:
    """What a stored rule says."""
    return RuleSpec(
        tag_selectors=stored_selectors(rule.tag_selectors),
        repository_selectors=stored_selectors((rule.scope_selectors or {}).get("repository")),
        disabled=rule.disabled,
        priority=rule.priority,
        params=dict(rule.params or {}),
        action=rule.action,
        template=rule.template,
    )


def _audit(
    session: AsyncSession,
    by: Actor,
    operation: str,
    access: ProjectAccess,
    rule_id: int,
    spec: RuleSpec,
) -> None:
    state = " (disabled)" if spec.disabled else ""
    record(
        session,
        by.event(
            operation,
            RESOURCE_TYPE,
            f"{access.name} rule {rule_id}",
            project_id=access.project_id,
            detail=spec.describe() + state,
        ),
    )


async def create_rule(
    session: AsyncSession, principal: Principal, access: ProjectAccess, spec: RuleSpec, *, by: Actor
) -> ImmutableRule:
    """A new rule of the project. 400 past :data:`MAX_RULES`, 409 for a rule it holds already
    (also when a concurrent request made it first)."""
    require_right(principal, access, "create")
    await lock_project(session, access.project_id)  # two creates count one after the other
    if await queries.count_rules(session, access.project_id) >= MAX_RULES:
        raise BadRequest(f"only {MAX_RULES} immutable tag rules are allowed per project")
    if await queries.find_same(session, access.project_id, spec.fingerprint) is not None:
        raise Conflict(DUPLICATE)
    rule = queries.new_rule(session, access.project_id, spec)
    await flush_unique(session, DUPLICATE)
    note_change(session)
    _audit(session, by, CREATE, access, rule.id, spec)
    return rule


async def update_rule(
    session: AsyncSession,
    principal: Principal,
    access: ProjectAccess,
    rule: ImmutableRule,
    spec: RuleSpec,
    *,
    by: Actor,
) -> None:
    """Replace what ``rule`` says (its selectors, its disabled flag...). Unlike Harbor, whose
    update only toggles the flag when the flag changed, every field given is applied."""
    require_right(principal, access, "update")
    if spec.fingerprint != rule.fingerprint:
        same = await queries.find_same(session, access.project_id, spec.fingerprint)
        if same is not None and same.id != rule.id:
            raise Conflict(DUPLICATE)
    queries.apply(rule, spec)
    await flush_unique(session, DUPLICATE)
    note_change(session)
    _audit(session, by, UPDATE, access, rule.id, spec)


async def set_disabled(
    session: AsyncSession,
    principal: Principal,
    access: ProjectAccess,
    rule: ImmutableRule,
    disabled: bool,
    *,
    by: Actor,
) -> None:
    """Enable or disable ``rule``, changing nothing else."""
    current = spec_of(rule)
    changed = RuleSpec(
        current.tag_selectors,
        current.repository_selectors,
        disabled=disabled,
        priority=current.priority,
        params=current.params,
    )
    await update_rule(session, principal, access, rule, changed, by=by)


async def delete_rule(
    session: AsyncSession,
    principal: Principal,
    access: ProjectAccess,
    rule: ImmutableRule,
    *,
    by: Actor,
) -> None:
    require_right(principal, access, "delete")
    rule_id, spec = rule.id, spec_of(rule)
    await queries.delete_rule(session, rule)
    note_change(session)
    _audit(session, by, DELETE, access, rule_id, spec)


# --- what the rules protect ------------------------------------------------------------------


async def immutable_tags(
    session: AsyncSession, project_id: int, repository: str, tags: Iterable[str]
) -> set[str]:
    """Which of ``tags`` of ``repository`` (its full name) an enabled rule protects (for
    retention, which never deletes them)."""
    matchers = await queries.enabled_matchers(session, project_id)
    name = short_name(repository)
    return {tag for tag in tags if any(m.selects(name, tag) for m in matchers)}


async def _refuse_any(
    session: AsyncSession, project_id: int, repository: str, tags: Iterable[str]
) -> None:
    names = sorted(set(tags))
    if not names:
        return
    name = short_name(repository)
    found = first_immutable(await queries.enabled_matchers(session, project_id), name, names)
    if found is not None:
        raise PreconditionFailed(refusal_message(name, found))


async def refuse_tag_removal(session: AsyncSession, repository: Repository, tag: str) -> None:
    """:class:`PreconditionFailed` when an enabled rule protects ``tag`` of ``repository``."""
    await _refuse_any(session, repository.project_id, repository.name, [tag])


async def refuse_artifact_deletion(
    session: AsyncSession, repository: Repository, artifact: Artifact
) -> None:
    """:class:`PreconditionFailed` when ``artifact`` holds a tag an enabled rule protects (or
    an index above it does)."""
    tags = await queries.tags_above(session, artifact.id)
    await _refuse_any(session, repository.project_id, repository.name, tags)


async def refuse_retag(
    session: AsyncSession, project_id: int, repository: str, tags: Mapping[str, str]
) -> None:
    """Before ``tags`` (name -> the digest it is about to name) are written to ``repository``
    (its full name): :class:`PreconditionFailed` when one of them exists, points elsewhere and
    an enabled rule protects it."""
    moved = []
    for tag, digest in tags.items():
        current = await queries.tag_digest(session, repository, tag)
        if current is not None and current != digest:
            moved.append(tag)
    await _refuse_any(session, project_id, repository, moved)


# --- the /v2/ checks (rules from the cache) --------------------------------------------------


async def push_refusal(cache: RuleCache, repository: str, tag: str, digest: str) -> str | None:
    """Why a push of ``digest`` as ``repository:tag`` (full name) is refused, or None: the tag
    exists, points at another digest, and an enabled rule protects it."""
    name = short_name(repository)
    if not name:
        return None
    matchers = await cache.matchers(repository.partition("/")[0])
    if not any(m.selects(name, tag) for m in matchers):
        return None
    async with cache.sessions() as session:
        current = await queries.tag_digest(session, repository, tag)
    if current is None or current == digest:
        return None  # a first push, or the very same manifest again
    return refusal_message(name, tag)


async def delete_refusal(cache: RuleCache, repository: str, reference: str) -> str | None:
    """Why deleting the manifest ``reference`` (a digest, or a tag) of ``repository`` is
    refused, or None."""
    name = short_name(repository)
    if not name:
        return None
    matchers = await cache.matchers(repository.partition("/")[0])
    if not matchers:
        return None
    if is_digest(reference):
        async with cache.sessions() as session:
            tags = await queries.tags_holding(session, repository, reference)
    else:
        tags = [reference]
    found = first_immutable(matchers, name, tags)
    return refusal_message(name, found) if found is not None else None
