"""The retention run: a background job of kind ``retention`` (``ref``: the policy's id).

A run reads the policy as it is when the run starts, takes the project's repositories that an
enabled rule applies to (one task each, kept in the execution's ``result``: ``{"tasks": [...]}``),
decides every artifact's verdict (:mod:`harborlite.retention.plan`) and, unless it is a dry run,
deletes each ``DEL`` artifact through :func:`harborlite.artifacts.operations.delete_artifact`,
one transaction per artifact, audited with the policy as the actor (``retention policy N``,
user agent ``harborlite retention execution E``). A dry run changes nothing and its task logs
show exactly the verdicts a real run would act on.

Before deleting an artifact the run reads it again: an artifact whose tags or push time changed
since the verdict (a push moved a tag onto it, or away) is kept, and the log says why; one that
is gone already is not an error. A stop request is honoured between artifacts: the task log
then says which were not deleted. A deletion the registry refuses marks the artifact ``ERR``
and the run ends in ``Error`` after finishing the others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.artifacts import queries as artifacts
from harborlite.artifacts import tags as tag_rows
from harborlite.artifacts.operations import delete_artifact, deletion_set
from harborlite.audit.events import Actor, Origin
from harborlite.db.models import Artifact, JobSchedule, Project, Repository, utcnow
from harborlite.errors import HarborliteError
from harborlite.immutability import queries as immutability
from harborlite.jobs.operations import ERROR, PENDING, RUNNING, STOPPED, SUCCESS
from harborlite.jobs.runner import JobContext, JobStopped
from harborlite.retention.models import RetentionPolicy
from harborlite.retention.operations import RETENTION
from harborlite.retention.plan import (
    DELETE,
    FAILED,
    IMMUTABLE,
    RETAIN,
    Protected,
    Verdict,
    candidate_of,
    candidates_of,
    decide,
    table,
)
from harborlite.retention.policy import rules_of
from harborlite.retention.rules import Candidate, Rule, applicable
from harborlite.upstream.client import Upstream


class RetentionFailed(Exception):
    """Some artifacts could not be deleted (each is ``ERR`` in its task's log)."""


@dataclass(frozen=True)
class Scoped:
    """A repository an enabled rule applies to, and those rules."""

    repository_id: int
    name: str  # project/repo
    short: str  # repo: the name inside the project, as rules and Harbor's tasks see it
    rules: tuple[Rule, ...]


def _iso(when: datetime) -> str:
    return when.isoformat()


async def protection(session: AsyncSession, project_id: int, repository: str) -> Protected:
    """What the project's enabled immutable tag rules protect in ``repository`` (its name
    inside the project), read now."""
    matchers = await immutability.enabled_matchers(session, project_id)

    def protected(tags: Sequence[str]) -> bool:
        return any(m.selects(repository, tag) for m in matchers for tag in tags)

    return protected


# told once per real run that ended: (project name, Harbor's webhook ``retention`` data)
Finished = Callable[[str, dict[str, Any]], Awaitable[None]]


async def run_retention(
    context: JobContext, upstream: Upstream, finished: Finished | None = None
) -> None:
    """The ``retention`` job handler (parameters ``policy_id``, ``dry_run``)."""
    policy_id = int(context.parameters["policy_id"])
    dry_run = bool(context.parameters.get("dry_run", False))
    now = utcnow()
    async with context.sessions() as session:
        row = await session.get(RetentionPolicy, policy_id)
        project = await session.get(Project, row.project_id) if row is not None else None
        if row is None or project is None:
            context.log(f"retention policy {policy_id} no longer exists: nothing to do")
            await session.execute(
                delete(JobSchedule).where(
                    JobSchedule.kind == RETENTION, JobSchedule.ref == str(policy_id)
                )
            )
            await session.commit()
            return
        project_id, project_name = project.id, project.name
        rules = rules_of(row)
        scoped = await _in_scope(session, project_id, project_name, rules)
    who = context.parameters.get("triggered_by")
    enabled = sum(1 for rule in rules if not rule.disabled)
    context.log(
        f"{'dry run' if dry_run else 'run'} of retention policy {policy_id} on project "
        f"{project_name}{f', asked by {who}' if who else ''}: {enabled} enabled rule(s) of "
        f"{len(rules)}, {len(scoped)} repositor{'y' if len(scoped) == 1 else 'ies'} in scope"
    )
    tasks: list[dict[str, Any]] = [
        {"id": n + 1, "repository": s.short, "status": PENDING, "total": 0, "retained": 0}
        for n, s in enumerate(scoped)
    ]
    context.result = {"policy_id": policy_id, "dry_run": dry_run, "tasks": tasks}
    actor = Actor(
        f"retention policy {policy_id}",
        Origin(user_agent=f"harborlite retention execution {context.execution_id}"),
    )
    failed = deleted = 0
    removed: list[dict[str, Any]] = []  # Harbor's deleted_artifacts, for the webhook
    try:
        for done, (task, item) in enumerate(zip(tasks, scoped, strict=True)):
            context.check()
            outcome = await _run_task(
                context, upstream, task, item, project_id, dry_run, now, actor, removed
            )
            deleted += outcome[0]
            failed += outcome[1]
            context.progress = int(100 * (done + 1) / len(tasks))
    except JobStopped:
        for task in tasks:
            if task["status"] in (PENDING, RUNNING):
                task["status"], task["end_time"] = STOPPED, _iso(utcnow())
        raise
    verb = "would delete" if dry_run else "deleted"
    context.log(f"{verb} {deleted} artifact(s) in {len(tasks)} repositor(ies)")
    if finished is not None and not dry_run:
        total = sum(int(task["total"]) for task in tasks)
        retention = {"total": total, "retained": total - deleted, "deleted_artifacts": removed}
        await finished(
            project_name, {"hook_status": "FAILED" if failed else "SUCCESS", **retention}
        )
    if failed:
        raise RetentionFailed(f"{failed} artifact(s) could not be deleted: see the task logs")


async def _in_scope(
    session: AsyncSession, project_id: int, project_name: str, rules: Sequence[Rule]
) -> list[Scoped]:
    rows = await session.execute(
        select(Repository.id, Repository.name)
        .where(Repository.project_id == project_id)
        .order_by(Repository.name)
    )
    scoped: list[Scoped] = []
    for repository_id, name in rows.all():
        short = name.removeprefix(f"{project_name}/")
        here = applicable(rules, short)
        if here:
            scoped.append(Scoped(repository_id, name, short, tuple(here)))
    return scoped


async def _run_task(
    context: JobContext,
    upstream: Upstream,
    task: dict[str, Any],
    item: Scoped,
    project_id: int,
    dry_run: bool,
    now: datetime,
    actor: Actor,
    removed_list: list[dict[str, Any]] | None = None,
) -> tuple[int, int]:
    """One repository: its verdicts, its deletions, its log. Returns (deleted, failed)."""
    task["status"], task["start_time"] = RUNNING, _iso(utcnow())
    async with context.sessions() as session:
        candidates = await candidates_of(session, item.repository_id)
        protected = await protection(session, project_id, item.short)
        verdicts = decide(item.rules, candidates, now, protected)
        await _children(session, verdicts)
    pending = [] if dry_run else [v for v in verdicts if v.mark == DELETE]
    stopped, position = False, 0
    try:
        while position < len(pending):
            context.check()
            await _delete(context.sessions, upstream, item, project_id, pending[position], actor)
            position += 1
    except JobStopped:
        stopped = True
        for verdict in pending[position:]:
            verdict.mark, verdict.note = RETAIN, "not deleted: the run was stopped first"
    removed = sum(1 for v in verdicts if v.mark == DELETE)
    if removed_list is not None:
        namespace, _, short = item.name.partition("/")
        removed_list.extend(
            {
                "type": "image",
                "status": "SUCCESS",
                "name_space": namespace,
                "repository": short,
                "tag": ",".join(v.candidate.tags),
                "digest": v.candidate.digest,
            }
            for v in verdicts
            if v.mark == DELETE
        )
    failed = sum(1 for v in verdicts if v.mark == FAILED)
    task["total"], task["retained"] = len(candidates), len(candidates) - removed
    task["log"] = _task_log(item, dry_run, verdicts, stopped)
    task["end_time"] = _iso(utcnow())
    task["status"] = STOPPED if stopped else ERROR if failed else SUCCESS
    kept_line = f"{item.name}: {len(candidates)} artifact(s), {removed} "
    context.log(kept_line + ("to delete" if dry_run else "deleted") + f", {failed} failed")
    if stopped:
        raise JobStopped
    return removed, failed


async def _children(session: AsyncSession, verdicts: Sequence[Verdict]) -> None:
    """Which untagged children each index to delete takes along (so a dry run says it too)."""
    for verdict in verdicts:
        if verdict.mark != DELETE:
            continue
        artifact = await artifacts.get_artifact_by_id(session, verdict.candidate.artifact_id)
        if artifact is not None and artifact.references:
            doomed = await deletion_set(session, artifact)
            verdict.children = tuple(a.digest for a in doomed if a.id != artifact.id)


def _task_log(item: Scoped, dry_run: bool, verdicts: Sequence[Verdict], stopped: bool) -> str:
    lines = [
        f"Run retention process.\n Repository: {item.name}\n Rule Algorithm: or\n"
        f" Dry Run: {str(dry_run).lower()}\n",
        *(f" Rule {rule.id}: {rule.describe()}\n" for rule in item.rules),
        f"Load {len(verdicts)} candidates from repository {item.name}\n",
        table(verdicts),
        *(
            f"{v.mark} {v.candidate.digest}: and its untagged children {', '.join(v.children)}\n"
            for v in verdicts
            if v.children and v.mark == DELETE
        ),
        *(f"{v.mark} {v.candidate.digest}: {v.note}\n" for v in verdicts if v.note),
    ]
    if stopped:
        lines.append("The run was stopped before it finished this repository.\n")
    return "".join(lines)


async def _delete(
    sessions: async_sessionmaker[AsyncSession],
    upstream: Upstream,
    item: Scoped,
    project_id: int,
    verdict: Verdict,
    actor: Actor,
) -> None:
    """Delete the verdict's artifact if it is still as it was judged; the verdict's mark and
    note say what happened."""
    judged = verdict.candidate
    async with sessions() as session:
        repository = await artifacts.get_repository(session, item.name)
        artifact = (
            await artifacts.get_artifact(session, repository.id, judged.digest)
            if repository is not None
            else None
        )
        if repository is None or artifact is None:
            verdict.note = "already deleted"
            return
        now = await _current(session, artifact.id, artifact)
        if (now.tags, now.pushed) != (judged.tags, judged.pushed):
            verdict.mark = RETAIN
            verdict.note = "kept: it changed (pushed or tagged) after it was evaluated"
            return
        protected = await protection(session, project_id, item.short)
        if now.tags and protected(now.tags):
            verdict.mark, verdict.note = IMMUTABLE, "an immutable tag rule protects it"
            return
        try:
            gone = await delete_artifact(session, upstream, repository, artifact, by=actor)
        except HarborliteError as error:
            await session.rollback()
            verdict.mark, verdict.note = FAILED, error.message
            return
        await session.commit()
    if len(gone) > 1:
        verdict.note = f"deleted with its {len(gone) - 1} untagged child manifest(s)"


async def _current(session: AsyncSession, artifact_id: int, artifact: Artifact) -> Candidate:
    return candidate_of(artifact, await tag_rows.tags_of(session, artifact_id))
