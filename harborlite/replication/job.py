"""The replication run: a background job of kind ``replication`` (``ref``: the policy's id).

A run reads the policy as it is when the run starts and plans its tasks once: one
:class:`~harborlite.replication.models.ReplicationTask` per artifact the filters select (a
copy), or the one artifact or tag of an event (a copy, or a deletion). The plan is written
before anything is copied, so a run resumed after a restart (the runner gives an interrupted
execution back) finds its tasks and finishes the ones not ``Succeed``; a copy checks the
destination first (the manifest already there by digest: not sent again), so nothing is copied
twice.

A task that fails is tried again after a backoff (1 s, 2 s, 4 s..., or what a 429's
``Retry-After`` asks), ``retries`` times, then ``Failed``; the run goes on with the others and
ends ``Failed`` (the runner's ``Error``) when any failed. A stop request is honoured between
tasks and during a backoff: the tasks not done become ``Stopped``. The execution's ``result``
shows the counts and, beyond Harbor, the bytes moved and the throughput.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.db.models import (
    Artifact,
    ArtifactLabel,
    ArtifactReference,
    Label,
    Repository,
    utcnow,
)
from harborlite.db.models import Tag as TagRow
from harborlite.endpoints.queries import Endpoint, get_endpoint
from harborlite.jobs.runner import JobContext, JobStopped
from harborlite.remote.client import RemoteRegistry
from harborlite.remote.errors import RemoteError
from harborlite.replication.copy import Copier, is_legacy_accessory_tag
from harborlite.replication.models import ReplicationPolicy, ReplicationTask
from harborlite.replication.namespaces import Namespaces
from harborlite.replication.policy import filters_of
from harborlite.replication.selection import (
    Candidate,
    NamespaceError,
    destination,
    repository_selected,
)
from harborlite.replication.selection import (
    select as select_candidate,
)
from harborlite.sealing import SecretBox
from harborlite.webhooks.enqueue import queue_event, replication_event

PENDING, IN_PROGRESS, SUCCEED, FAILED, STOPPED = (
    "Pending",
    "InProgress",
    "Succeed",
    "Failed",
    "Stopped",
)
COPY, DELETION = "copy", "deletion"
MAX_BACKOFF = 30.0
PERMANENT = (400, 403, 404)  # refusals another try would get again: not retried

# builds the registry client of one side: the endpoint (None: this harborlite)
Sides = Callable[[Endpoint | None], RemoteRegistry]


class ReplicationFailed(Exception):
    """Some tasks failed (each one's log says why)."""


@dataclass(frozen=True)
class Planned:
    operation: str
    src_repo: str
    dst_repo: str
    reference: str  # the digest to copy or delete, or ``:tag`` for a tag deletion
    tags: tuple[str, ...] = ()


async def run_replication(
    context: JobContext,
    sides: Sides,
    secrets: SecretBox,
    retries: int,
    backoff: float = 1.0,
    host: str = "",
) -> None:
    """The ``replication`` job handler (parameters ``policy_id``, ``trigger``, ``event``)."""
    policy_id = int(context.parameters["policy_id"])
    async with context.sessions() as session:
        policy = await session.get(ReplicationPolicy, policy_id)
        if policy is None:
            context.log(f"replication policy {policy_id} no longer exists: nothing to do")
            return
        if not policy.enabled and context.parameters.get("trigger") != "manual":
            context.log(f"replication policy {policy.name} is disabled: nothing to do")
            return
        src = await _endpoint(session, policy.src_registry_id, secrets)
        dst = await _endpoint(session, policy.dest_registry_id, secrets)
        existing = await _tasks(session, context.execution_id)
        snapshot = _Snapshot.of(policy)
    source, target = sides(src), sides(dst)
    started = time.monotonic()
    copier = Copier(source, target, snapshot.override, snapshot.speed, log=context.log)
    namespaces = Namespaces.for_destination(dst, context.sessions)
    try:
        if not existing:
            planned = await _plan(context, snapshot, source, src is None)
            existing = await _record(context.sessions, context.execution_id, planned)
            context.log(f"{len(existing)} task(s) planned for policy {snapshot.name}")
        else:
            context.log(
                f"resumed: {sum(t.status == SUCCEED for t in existing)} of "
                f"{len(existing)} task(s) already done"
            )
        failed = await _run_tasks(context, copier, namespaces, existing, retries, backoff)
    finally:
        await source.close()
        await target.close()
    await _announce(context, snapshot, src is None, host)
    seconds = max(time.monotonic() - started, 1e-6)
    context.result = {
        **context.result,
        "bytes": copier.bytes_moved,
        "seconds": round(seconds, 3),
        "throughput_bytes_per_second": int(copier.bytes_moved / seconds),
    }
    context.log(f"moved {copier.bytes_moved} byte(s) in {seconds:.1f} s")
    if failed:
        raise ReplicationFailed(f"{failed} task(s) failed: see the task logs")


async def _announce(context: JobContext, policy: _Snapshot, push_based: bool, host: str) -> None:
    """A REPLICATION webhook event per finished task, in the project of the local side (the
    source of a push-based policy, the destination of a pull-based one), as Harbor sends."""
    async with context.sessions() as session:
        for task in await _tasks(session, context.execution_id):
            if task.status not in (SUCCEED, FAILED, STOPPED):
                continue
            local = task.src_resource if push_based else task.dst_resource
            if "/" not in local:
                continue
            replication = {
                "harbor_hostname": host,
                "job_status": task.status,
                "description": "",
                "artifact_type": task.resource_type,
                "authentication_type": "basic",
                "override_mode": policy.override,
                "trigger_type": str(context.parameters.get("trigger", "manual")),
                "policy_creator": policy.creator,
                "execution_timestamp": int(time.time()),
                "src_resource": {"namespace": task.src_resource.split("/")[0]},
                "dest_resource": {"namespace": task.dst_resource.split("/")[0]},
                "execution_id": context.execution_id,
                "task_id": task.id,
            }
            event = replication_event(local.split("/")[0], policy.creator, replication)
            await queue_event(session, host, event)
        await session.commit()


@dataclass(frozen=True)
class _Snapshot:
    name: str
    filters: tuple[Any, ...]
    namespace: str
    replace_count: int
    override: bool
    speed: int
    replicate_deletion: bool
    creator: str

    @classmethod
    def of(cls, policy: ReplicationPolicy) -> _Snapshot:
        return cls(
            policy.name,
            filters_of(policy.filters),
            policy.dest_namespace,
            policy.dest_namespace_replace_count,
            policy.override,
            policy.speed,
            policy.replicate_deletion,
            policy.creator,
        )


async def _endpoint(
    session: AsyncSession, registry_id: int | None, secrets: SecretBox
) -> Endpoint | None:
    if registry_id is None:
        return None
    endpoint = await get_endpoint(session, registry_id, secrets)
    if endpoint is None:
        raise RemoteError(f"registry {registry_id} no longer exists")
    return endpoint


async def _tasks(session: AsyncSession, execution_id: int) -> list[ReplicationTask]:
    rows = await session.execute(
        select(ReplicationTask)
        .where(ReplicationTask.execution_id == execution_id)
        .order_by(ReplicationTask.id)
    )
    return list(rows.scalars())


async def _plan(
    context: JobContext, policy: _Snapshot, source: RemoteRegistry, local_source: bool
) -> list[Planned]:
    event = context.parameters.get("event")
    if isinstance(event, dict):
        return _planned_event(policy, event)
    if local_source:
        async with context.sessions() as session:
            candidates = await local_candidates(session, policy.filters)
    else:
        candidates = await remote_candidates(source, policy.filters)
    planned: list[Planned] = []
    for candidate in candidates:
        chosen = select_candidate(policy.filters, candidate)
        if chosen is None:
            continue
        try:
            target = destination(chosen.repository, policy.namespace, policy.replace_count)
        except NamespaceError as error:
            context.log(str(error))
            target = ""
        planned.append(Planned(COPY, chosen.repository, target, chosen.digest, chosen.tags))
    return planned


def _planned_event(policy: _Snapshot, event: dict[str, Any]) -> list[Planned]:
    repository = str(event["repository"])
    try:
        target = destination(repository, policy.namespace, policy.replace_count)
    except NamespaceError:
        target = ""
    digest, tag = event.get("digest"), event.get("tag")
    if event.get("operation") == DELETION:
        reference = str(digest) if digest and not tag else f":{tag}"
        return [Planned(DELETION, repository, target, reference)]
    tags = (str(tag),) if tag else ()
    return [Planned(COPY, repository, target, str(digest), tags)]


async def local_candidates(session: AsyncSession, filters: tuple[Any, ...]) -> list[Candidate]:
    """This harborlite's artifacts the name filters let through, with their tags and labels:
    not accessories (they go with their subject) nor untagged children of an index."""
    repositories = (await session.execute(select(Repository.id, Repository.name))).all()
    found: list[Candidate] = []
    for repository_id, name in sorted(repositories, key=lambda row: row[1]):
        if not repository_selected(filters, name):
            continue
        artifacts = (
            await session.execute(
                select(Artifact.id, Artifact.digest, Artifact.type)
                .where(Artifact.repository_id == repository_id, Artifact.subject_digest.is_(None))
                .order_by(Artifact.push_time)
            )
        ).all()
        children = set(
            (
                await session.execute(
                    select(ArtifactReference.child_id).where(
                        ArtifactReference.child_id.in_([a[0] for a in artifacts])
                    )
                )
            ).scalars()
        )
        for artifact_id, digest, kind in artifacts:
            tags = tuple(
                (
                    await session.execute(
                        select(TagRow.name).where(TagRow.artifact_id == artifact_id)
                    )
                ).scalars()
            )
            tags = tuple(t for t in tags if not is_legacy_accessory_tag(t))
            if artifact_id in children and not tags:
                continue
            labels = tuple(
                (
                    await session.execute(
                        select(Label.name)
                        .join(ArtifactLabel, ArtifactLabel.label_id == Label.id)
                        .where(ArtifactLabel.artifact_id == artifact_id)
                    )
                ).scalars()
            )
            found.append(Candidate(name, digest, tags, labels, kind == "IMAGE"))
    return found


async def remote_candidates(source: RemoteRegistry, filters: tuple[Any, ...]) -> list[Candidate]:
    """The source registry's tagged artifacts the name filters let through: its catalog, each
    repository's tags, grouped by the digest each names (by ``HEAD``, which Docker Hub does not
    count as a pull)."""
    found: list[Candidate] = []
    for repository in sorted(await source.catalog()):
        if not repository_selected(filters, repository):
            continue
        by_digest: dict[str, list[str]] = {}
        for tag in await source.tags(repository):
            if is_legacy_accessory_tag(tag):
                continue
            digest = await source.manifest_digest(repository, tag)
            if digest is not None:
                by_digest.setdefault(digest, []).append(tag)
        for digest, tags in by_digest.items():
            found.append(Candidate(repository, digest, tuple(sorted(tags))))
    return found


async def _record(
    sessions: async_sessionmaker[AsyncSession], execution_id: int, planned: list[Planned]
) -> list[ReplicationTask]:
    async with sessions() as session:
        rows = [
            ReplicationTask(
                execution_id=execution_id,
                status=PENDING,
                operation=item.operation,
                resource_type="image",
                src_resource=item.src_repo,
                dst_resource=item.dst_repo,
                reference=item.reference,
                tags=",".join(item.tags),
                attempts=0,
                bytes=0,
                log="",
            )
            for item in planned
        ]
        session.add_all(rows)
        await session.commit()
        for row in rows:
            await session.refresh(row)
        session.expunge_all()
        return rows


def _stamp() -> str:
    return utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


async def _save(
    sessions: async_sessionmaker[AsyncSession], task: ReplicationTask, **values: Any
) -> None:
    async with sessions() as session:
        row = await session.get(ReplicationTask, task.id)
        if row is None:
            return
        for key, value in values.items():
            setattr(row, key, value)
            setattr(task, key, value)
        await session.commit()


async def _run_tasks(
    context: JobContext,
    copier: Copier,
    namespaces: Namespaces,
    tasks: list[ReplicationTask],
    retries: int,
    backoff: float,
) -> int:
    failed = 0
    try:
        for done, task in enumerate(tasks):
            context.progress = int(100 * done / max(len(tasks), 1))
            if task.status == SUCCEED:
                continue
            context.check()
            if not await _run_task(context, copier, namespaces, task, retries, backoff):
                failed += 1
    except JobStopped:
        for task in tasks:
            if task.status in (PENDING, IN_PROGRESS):
                await _save(
                    context.sessions,
                    task,
                    status=STOPPED,
                    end_time=utcnow(),
                    log=task.log + f"{_stamp()} stopped before it finished\n",
                )
        raise
    return failed


async def _run_task(
    context: JobContext,
    copier: Copier,
    namespaces: Namespaces,
    task: ReplicationTask,
    retries: int,
    backoff: float,
) -> bool:
    """One task, tried ``1 + retries`` times; whether it succeeded."""
    log = task.log
    await _save(context.sessions, task, status=IN_PROGRESS, start_time=utcnow())
    reference, src_repo = task.reference, task.src_resource
    tags = tuple(t for t in task.tags.split(",") if t)
    lines: list[str] = []
    copier.log = lambda line: lines.append(f"{_stamp()} {line}\n")
    attempt = task.attempts
    while True:
        attempt += 1
        before = copier.bytes_moved
        try:
            if not task.dst_resource:
                raise RemoteError(f"no destination name for {src_repo}: see the execution log")
            if task.operation == COPY:
                created = await namespaces.prepare(task.dst_resource)
                if created is not None:
                    lines.append(f"{_stamp()} {created}\n")
                    context.log(created)
            outcome = await _do(copier, task, src_repo, reference, tags)
        except RemoteError as error:
            moved = copier.bytes_moved - before
            log += "".join(lines) + f"{_stamp()} attempt {attempt} failed: {error.message}\n"
            lines.clear()
            if attempt > retries or error.status in PERMANENT:
                await _save(
                    context.sessions,
                    task,
                    status=FAILED,
                    end_time=utcnow(),
                    log=log,
                    attempts=attempt,
                    bytes=task.bytes + moved,
                )
                context.log(f"task {task.id} failed: {error.message}")
                return False
            delay = min(MAX_BACKOFF, error.retry_after or backoff * 2 ** (attempt - 1))
            log += f"{_stamp()} trying again in {delay:.0f} s\n"
            await _save(context.sessions, task, log=log, attempts=attempt)
            await _sleep_unless_stopped(context, delay)
            continue
        log += "".join(lines) + f"{_stamp()} {outcome}\n"
        await _save(
            context.sessions,
            task,
            status=SUCCEED,
            end_time=utcnow(),
            log=log,
            attempts=attempt,
            bytes=task.bytes + copier.bytes_moved - before,
        )
        return True


async def _do(
    copier: Copier, task: ReplicationTask, src_repo: str, reference: str, tags: tuple[str, ...]
) -> str:
    if task.operation == DELETION:
        if reference.startswith(":"):
            return await copier.delete(task.dst_resource, None, reference[1:])
        return await copier.delete(task.dst_resource, reference, None)
    return await copier.copy(src_repo, task.dst_resource, reference, tags)


async def _sleep_unless_stopped(context: JobContext, seconds: float) -> None:
    """Sleep, waking every half second to see whether the run was asked to stop."""
    deadline = time.monotonic() + seconds
    while True:
        context.check()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(0.5, left))
