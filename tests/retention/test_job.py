"""The retention job in-process, on a real SQLite database and a real registry: a dry run
reports exactly what the real run then deletes, immutable tags stay, an index goes with its
untagged children, artifacts changed after the verdict stay, a stop is honoured, and a policy
that is gone ends its schedule."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.artifacts import queries as artifacts
from harborlite.artifacts import tags as tag_rows
from harborlite.audit.events import Actor
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import AuditLog, JobSchedule, Project, utcnow
from harborlite.errors import NotFound
from harborlite.immutability import queries as immutable_rules
from harborlite.immutability.rules import rule_from_json
from harborlite.jobs.runner import JobContext, JobStopped
from harborlite.oci.mediatypes import OCI_INDEX
from harborlite.projects import queries as projects
from harborlite.retention import job, operations
from harborlite.retention.plan import RETAIN, Verdict
from harborlite.retention.policy import parse_policy
from harborlite.retention.rules import Candidate
from harborlite.upstream import calls
from harborlite.upstream.client import Upstream
from tests.artifacts.test_operations import indexed, pushed
from tests.upstream.test_calls import Registry, digest_of, push_image, started_registry

ADMIN = Actor("admin")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with started_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture
async def upstream(registry: Registry) -> AsyncIterator[Upstream]:
    client = Upstream.open(registry.server.url, registry.signer)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'index.db'}")
    await migrate(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def policy_body(project_id: int, *rules: dict[str, Any], cron: str = "") -> dict[str, Any]:
    return {
        "algorithm": "or",
        "rules": list(rules),
        "trigger": {"kind": "Schedule", "settings": {"cron": cron}},
        "scope": {"level": "project", "ref": project_id},
    }


def keep(
    template: str,
    value: int | None,
    *,
    tags: str = "**",
    untagged: bool = False,
    repositories: str = "**",
    repo_decoration: str = "repoMatches",
) -> dict[str, Any]:
    return {
        "action": "retain",
        "template": template,
        "params": {} if value is None else {template: value},
        "tag_selectors": [
            {
                "kind": "doublestar",
                "decoration": "matches",
                "pattern": tags,
                "extras": json.dumps({"untagged": untagged}),
            }
        ],
        "scope_selectors": {
            "repository": [
                {"kind": "doublestar", "decoration": repo_decoration, "pattern": repositories}
            ]
        },
    }


async def run(
    sessions: async_sessionmaker[AsyncSession],
    upstream: Upstream,
    policy_id: int,
    dry_run: bool,
    *,
    execution_id: int = 1,
    stop: bool = False,
) -> JobContext:
    context = JobContext(execution_id, {"policy_id": policy_id, "dry_run": dry_run}, sessions)
    context.stop_requested = stop
    await job.run_retention(context, upstream)
    return context


def marks(task: dict[str, Any]) -> dict[str, str]:
    """digest -> verdict, read back from the task log's table."""
    found = {}
    for line in task["log"].splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if cells and cells[0].startswith("sha256:"):
            found[cells[0]] = cells[-1]
    return found


async def age(session: AsyncSession, repository: str, digest: str, days: float) -> None:
    """Make an artifact (and its tags) look pushed ``days`` ago."""
    found = await artifacts.resolve_reference(session, repository, digest)
    assert found is not None
    when = utcnow() - timedelta(days=days)
    found[1].push_time = when
    for tag in await tag_rows.tags_of(session, found[1].id):
        tag.push_time = when
    await session.flush()


async def test_dry_run_reports_what_the_real_run_deletes(
    sessions: async_sessionmaker[AsyncSession], upstream: Upstream
) -> None:
    async with sessions() as session:
        project = await projects.create_project(session, name="ret", public=False, owner=None)
        images = {}
        for days, tag in ((40, "v1"), (30, "v2"), (20, "v3"), (10, "v4"), (5, "dev")):
            images[tag] = await pushed(session, upstream, project, "ret/app", tag, tag)
            await age(session, "ret/app", images[tag].digest, days)
        untagged_digest, body = await push_image(upstream, "ret/app", "scratch", seed="u")
        untagged = await indexed(session, upstream, project, "ret/app", body, untagged_digest, None)
        await age(session, "ret/app", untagged.digest, 1)
        # an index (old, tagged) with two untagged children
        children = []
        for arch in ("amd64", "arm64"):
            digest, manifest = await push_image(upstream, "ret/app", arch, seed=arch)
            children.append(
                await indexed(session, upstream, project, "ret/app", manifest, digest, None)
            )
        index_body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {"mediaType": c.manifest_media_type, "digest": c.digest, "size": 1}
                    for c in children
                ],
            }
        ).encode()
        await calls.put_manifest(upstream, "ret/app", "multi", index_body, OCI_INDEX)
        index = await indexed(
            session, upstream, project, "ret/app", index_body, digest_of(index_body), "multi"
        )
        await age(session, "ret/app", index.digest, 50)
        tool = await pushed(session, upstream, project, "ret/tools/lint", "old", "t")
        await age(session, "ret/tools/lint", tool.digest, 100)
        # v2 is immutable: never deleted by retention
        spec = rule_from_json(
            {
                "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v2"}],
                "scope_selectors": {
                    "repository": [
                        {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}
                    ]
                },
            }
        )
        immutable_rules.new_rule(session, project.id, spec)
        policy = parse_policy(
            policy_body(
                project.id,
                keep(
                    "latestPushedK",
                    2,
                    tags="v*",
                    repositories="tools/**",
                    repo_decoration="repoExcludes",
                ),
                keep("nDaysSinceLastPush", 7, tags="dev*", repositories="app"),
            )
        )
        row = await operations.create_policy(session, project, policy, by=ADMIN)
        assert project.project_metadata["retention_id"] == str(row.id)
        await session.commit()
        policy_id, project_id = row.id, project.id

    dry = await run(sessions, upstream, policy_id, dry_run=True)
    (task,) = dry.result["tasks"]  # tools/lint is out of every rule's scope: no task
    assert task["repository"] == "app" and task["status"] == "Success"
    expected_deleted = {images["v1"].digest, untagged.digest, index.digest}
    assert marks(task) == {
        images["v4"].digest: "RETAIN",
        images["v3"].digest: "RETAIN",
        images["dev"].digest: "RETAIN",
        images["v2"].digest: "IMMUTABLE",
        **{digest: "DEL" for digest in expected_deleted},
    }
    assert task["total"] == 7 and task["retained"] == 4
    assert "Dry Run: true" in task["log"]
    children_line = f"DEL {index.digest}: and its untagged children "
    assert children_line + ", ".join(sorted(c.digest for c in children)) in "\n".join(
        children_line + ", ".join(sorted(line.removeprefix(children_line).split(", ")))
        for line in task["log"].splitlines()
        if line.startswith(children_line)
    )
    async with sessions() as session:
        repository = await artifacts.get_repository(session, "ret/app")
        assert repository is not None
        assert len(await artifacts.artifacts_of_repository(session, repository.id)) == 9
    await calls.get_manifest(upstream, "ret/app", images["v1"].digest)  # still there

    real = await run(sessions, upstream, policy_id, dry_run=False, execution_id=2)
    (task,) = real.result["tasks"]
    assert {d for d, mark in marks(task).items() if mark == "DEL"} == expected_deleted
    assert "deleted with its 2 untagged child manifest(s)" in task["log"]
    async with sessions() as session:
        repository = await artifacts.get_repository(session, "ret/app")
        assert repository is not None
        left = {a.digest for a in await artifacts.artifacts_of_repository(session, repository.id)}
        assert left == {images[t].digest for t in ("v2", "v3", "v4", "dev")}
        tools = await artifacts.get_repository(session, "ret/tools/lint")
        assert tools is not None  # out of scope, untouched
        entries = (
            await session.execute(select(AuditLog).where(AuditLog.project_id == project_id))
        ).scalars()
        deletions = [
            (e.username, e.resource, e.user_agent) for e in entries if e.operation == "delete"
        ]
    gone = expected_deleted | {c.digest for c in children}
    assert {resource.split("@")[1] for _, resource, _ in deletions} == gone
    assert {user for user, _, _ in deletions} == {f"retention policy {policy_id}"}
    assert {agent for _, _, agent in deletions} == {"harborlite retention execution 2"}
    for digest in gone:
        with pytest.raises(NotFound):
            await calls.get_manifest(upstream, "ret/app", digest)

    again = await run(sessions, upstream, policy_id, dry_run=True, execution_id=3)
    assert set(marks(again.result["tasks"][0]).values()) == {"RETAIN", "IMMUTABLE"}


async def test_an_artifact_changed_after_its_verdict_is_kept(
    sessions: async_sessionmaker[AsyncSession], upstream: Upstream
) -> None:
    async with sessions() as session:
        project = await projects.create_project(session, name="moved", public=False, owner=None)
        image = await pushed(session, upstream, project, "moved/app", "v1", "m")
        await session.commit()
        repository = await artifacts.get_repository(session, "moved/app")
        assert repository is not None
        item = job.Scoped(repository.id, "moved/app", "app", ())
        stale = Candidate(image.digest, ("old-tag",), pushed=image.push_time.timestamp())
    verdict = Verdict(stale, "DEL")
    await job._delete(sessions, upstream, item, project.id, verdict, Actor("retention policy 1"))
    assert verdict.mark == RETAIN and "changed" in verdict.note
    await calls.get_manifest(upstream, "moved/app", image.digest)  # not deleted
    gone = Verdict(Candidate("sha256:" + "0" * 64, (), pushed=0), "DEL")
    await job._delete(sessions, upstream, item, project.id, gone, Actor("retention policy 1"))
    assert gone.mark == "DEL" and gone.note == "already deleted"


async def test_a_stop_request_stops_the_run_and_says_so(
    sessions: async_sessionmaker[AsyncSession], upstream: Upstream
) -> None:
    async with sessions() as session:
        project = await projects.create_project(session, name="halt", public=False, owner=None)
        for tag in ("a", "b"):
            await pushed(session, upstream, project, "halt/app", tag, tag)
        policy = parse_policy(policy_body(project.id, keep("latestPushedK", 0)))
        row = await operations.create_policy(session, project, policy, by=ADMIN)
        await session.commit()
    context = JobContext(9, {"policy_id": row.id, "dry_run": False}, sessions)
    context.stop_requested = True
    with pytest.raises(JobStopped):
        await job.run_retention(context, upstream)
    assert [t["status"] for t in context.result["tasks"]] == ["Stopped"]
    async with sessions() as session:
        repository = await artifacts.get_repository(session, "halt/app")
        assert repository is not None
        assert len(await artifacts.artifacts_of_repository(session, repository.id)) == 2


async def test_a_deleted_policy_ends_its_schedule(
    sessions: async_sessionmaker[AsyncSession], upstream: Upstream
) -> None:
    async with sessions() as session:
        project = await projects.create_project(session, name="gone", public=False, owner=None)
        policy = parse_policy(policy_body(project.id, keep("always", None), cron="0 0 3 * * *"))
        row = await operations.create_policy(session, project, policy, by=ADMIN)
        await session.commit()
        policy_id = row.id
        schedule = await session.execute(
            select(JobSchedule).where(JobSchedule.ref == str(policy_id))
        )
        saved = schedule.scalar_one()
        assert (saved.kind, saved.cron, saved.parameters["policy_id"]) == (
            "retention",
            "0 0 3 * * *",
            policy_id,
        )
        assert saved.next_run is not None
        # the project goes (its policy with it, by the foreign key); the schedule stays behind
        loaded = await session.get(Project, project.id)
        await session.delete(loaded)
        await session.commit()
    context = await run(sessions, upstream, policy_id, dry_run=False)
    assert "no longer exists" in context.take_lines()
    async with sessions() as session:
        left = await session.execute(select(JobSchedule).where(JobSchedule.ref == str(policy_id)))
        assert left.scalar_one_or_none() is None


async def test_policy_changes_keep_metadata_and_schedule_in_step(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        project = await projects.create_project(session, name="meta", public=False, owner=None)
        first = parse_policy(policy_body(project.id, keep("always", None), cron="0 0 0 * * *"))
        row = await operations.create_policy(session, project, first, by=ADMIN)
        with pytest.raises(Exception, match="already has retention policy"):
            await operations.create_policy(session, project, first, by=ADMIN)
        manual = parse_policy(policy_body(project.id, keep("always", None)))
        await operations.update_policy(session, row, manual, by=ADMIN)
        assert (
            await session.scalar(select(JobSchedule).where(JobSchedule.ref == str(row.id))) is None
        )
        execution = await operations.run_now(session, row, dry_run=True, by=ADMIN)
        with pytest.raises(Exception, match="already running"):
            await operations.run_now(session, row, dry_run=True, by=ADMIN)
        await operations.delete_policy(session, row, by=ADMIN)
        await session.commit()
        assert "retention_id" not in (project.project_metadata or {})
        assert await operations.policy_of_project(session, project.id) is None
        assert (await session.get(type(execution), execution.id)) is None  # it was pending
