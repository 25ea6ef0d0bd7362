"""The quota bookkeeping of :mod:`harborlite.quotas.usage`, in process, on a fresh database of
each kind: what counts (distinct blobs per project, manifests), refusals that write nothing,
reservations given back, abandoned uploads, deleted artifacts, and two pushes racing for the
last free bytes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.artifacts import queries as artifacts
from harborlite.artifacts.queries import PushedManifest
from harborlite.projects import queries as projects
from harborlite.quotas import operations, queries, usage
from harborlite.quotas.limits import Overflow
from harborlite.quotas.models import QuotaBlob
from harborlite.quotas.usage import Clock, ManifestPush, Reservation

Sessions = async_sessionmaker[AsyncSession]
WINDOW = timedelta(hours=2)
MIB = 1024 * 1024


def d(n: int) -> str:
    return f"sha256:{n:064x}"


async def _project(sessions: Sessions, name: str, hard: int = -1) -> int:
    async with sessions() as session:
        project = projects.new_project(session, name=name, public=False, owner=None)
        await session.flush()
        await operations.create_project_quota(session, project.id, hard)
        await session.commit()
        return project.id


async def _used(sessions: Sessions, project_id: int, clock: Clock | None = None) -> int:
    async with sessions() as session:
        return await queries.usage(session, project_id, (clock or Clock.of(WINDOW)).cutoff)


async def _blob(sessions: Sessions, project_id: int, digest: str, size: int) -> Reservation:
    async with sessions() as session:
        outcome = await usage.reserve_blob(session, project_id, digest, size, Clock.of(WINDOW))
        await session.commit()
    assert isinstance(outcome, Reservation), outcome
    return outcome


async def _manifest(sessions: Sessions, project_id: int, push: ManifestPush) -> Overflow | None:
    async with sessions() as session:
        refused = await usage.reserve_manifest(session, project_id, push, Clock.of(WINDOW))
        await session.commit()
    return refused


async def _index(sessions: Sessions, project_id: int, repository: str, digest: str) -> None:
    async with sessions() as session:
        await artifacts.record_push(
            session,
            project_id=project_id,
            repository_name=repository,
            manifest=PushedManifest(digest, "m", "c", "IMAGE", 1),
            tag=None,
            pusher="t",
        )
        await session.commit()


async def _age_everything(sessions: Sessions, by: timedelta) -> None:
    """Move every pending row back in time, as if the push were that long ago."""
    async with sessions() as session:
        rows = (await session.execute(select(QuotaBlob))).scalars().all()
        for row in rows:
            if row.pending_since is not None:
                row.pending_since = row.pending_since - by
        await session.commit()


async def test_a_layer_counts_once_per_project_and_in_each_project(sessions: Sessions) -> None:
    one, two = await _project(sessions, "one"), await _project(sessions, "two")
    await _blob(sessions, one, d(1), 100)
    again = await _blob(sessions, one, d(1), 100)  # a second repository of the project
    assert not again.created
    await _blob(sessions, two, d(1), 100)
    assert await _used(sessions, one) == 100
    assert await _used(sessions, two) == 100


async def test_a_refused_upload_writes_nothing(sessions: Sessions) -> None:
    project = await _project(sessions, "small", hard=150)
    await _blob(sessions, project, d(1), 100)
    async with sessions() as session:
        refused = await usage.reserve_blob(session, project, d(2), 51, Clock.of(WINDOW))
        await session.commit()
    assert isinstance(refused, Overflow)
    assert refused.message.startswith(
        "adding 51 B of storage resource, which when updated to current usage of 100 B"
    )
    assert await _used(sessions, project) == 100
    async with sessions() as session:
        assert await queries.blob_rows(session, project, [d(2)]) == {}
        # a blob the project counts already costs nothing, even at the limit
        ok = await usage.reserve_blob(session, project, d(1), 100, Clock.of(WINDOW))
        assert isinstance(ok, Reservation)
        await session.commit()


async def test_an_upload_the_registry_refused_is_given_back(sessions: Sessions) -> None:
    project = await _project(sessions, "back")
    reservation = await _blob(sessions, project, d(1), 100)
    async with sessions() as session:
        await usage.release(session, reservation)
        await session.commit()
    assert await _used(sessions, project) == 0
    async with sessions() as session:
        assert await queries.blob_rows(session, project, [d(1)]) == {}


async def test_the_manifest_and_the_blobs_it_names_count(sessions: Sessions) -> None:
    project = await _project(sessions, "mf", hard=1000)
    await _blob(sessions, project, d(1), 300)  # the layer, uploaded
    push = ManifestPush(d(9), 50, {d(1): 300, d(2): 20})  # d(2): the config, never uploaded
    assert await _manifest(sessions, project, push) is None
    assert await _used(sessions, project) == 370
    # the same manifest pushed again (another tag) costs nothing
    assert await _manifest(sessions, project, push) is None
    assert await _used(sessions, project) == 370
    # a manifest naming more than fits: refused, nothing recorded
    big = ManifestPush(d(8), 40, {d(1): 300, d(3): 700})
    refused = await _manifest(sessions, project, big)
    assert isinstance(refused, Overflow)
    assert (refused.used, refused.new_used) == (370, 1110)
    assert await _used(sessions, project) == 370
    async with sessions() as session:
        assert set(await queries.blob_rows(session, project, [d(8), d(3)])) == set()


async def test_an_artifact_keeps_counting_after_the_window_and_stops_when_deleted(
    sessions: Sessions,
) -> None:
    project = await _project(sessions, "life")
    await _blob(sessions, project, d(1), 300)
    await _blob(sessions, project, d(2), 20)
    await _manifest(sessions, project, ManifestPush(d(9), 50, {d(1): 300, d(2): 20}))
    await _index(sessions, project, "life/app", d(9))
    await _age_everything(sessions, timedelta(hours=3))
    assert await _used(sessions, project) == 370  # held by the artifact
    # deleted: the registry's DELETE settles it, the index forgets it
    writes = usage.RegistryWrites(sessions)
    await writes.registry_wrote("DELETE", "life/app", d(9), 202, None)
    async with sessions() as session:
        repository = await artifacts.get_repository(session, "life/app")
        assert repository is not None
        await artifacts.delete_artifact(session, repository, d(9))
        await session.commit()
    assert await _used(sessions, project) == 0


async def test_deleting_a_fresh_artifact_drops_its_usage_at_once(sessions: Sessions) -> None:
    project = await _project(sessions, "fresh")
    await _blob(sessions, project, d(1), 300)
    await _manifest(sessions, project, ManifestPush(d(9), 50, {d(1): 300}))
    await _index(sessions, project, "fresh/a", d(9))
    await _index(sessions, project, "fresh/b", d(9))  # the same image in a second repository
    assert await _used(sessions, project) == 350
    writes = usage.RegistryWrites(sessions)
    await writes.registry_wrote("DELETE", "fresh/a", d(9), 202, None)
    async with sessions() as session:
        repository = await artifacts.get_repository(session, "fresh/a")
        assert repository is not None
        await artifacts.delete_artifact(session, repository, d(9))
        await session.commit()
    assert await _used(sessions, project) == 350  # fresh/b still holds it
    await writes.registry_wrote("DELETE", "fresh/b", d(9), 202, None)
    async with sessions() as session:
        repository = await artifacts.get_repository(session, "fresh/b")
        assert repository is not None
        await artifacts.delete_artifact(session, repository, d(9))
        await session.commit()
    assert await _used(sessions, project) == 0
    # what other writes tell the listener changes nothing
    await writes.registry_wrote("PUT", "fresh/a", d(9), 201, d(9))
    await writes.registry_wrote("DELETE", "fresh/a", "v1", 202, None)
    await writes.registry_wrote("DELETE", "nosuchproject/a", d(9), 202, None)


async def test_an_abandoned_upload_stops_counting_after_the_window(sessions: Sessions) -> None:
    project = await _project(sessions, "gone", hard=500)
    await _blob(sessions, project, d(1), 400)
    assert await _used(sessions, project) == 400
    await _age_everything(sessions, timedelta(hours=2, minutes=1))
    assert await _used(sessions, project) == 0
    async with sessions() as session:
        listed = await queries.uncounted_blobs(session, project, Clock.of(WINDOW).cutoff, 10)
    assert [(row.digest, counts) for row, counts in listed] == [(d(1), False)]
    # and the room is free again: the same blob pushed again counts again
    await _blob(sessions, project, d(2), 450)
    assert await _used(sessions, project) == 450


async def test_a_manifest_the_registry_refused_stops_counting(sessions: Sessions) -> None:
    project = await _project(sessions, "refused")
    clock = Clock.of(WINDOW)
    await _manifest(sessions, project, ManifestPush(d(9), 50, {d(2): 20}))
    assert await _used(sessions, project) == 70
    async with sessions() as session:
        await usage.manifest_refused(session, project, d(9), clock.cutoff)
        await session.commit()
    assert await _used(sessions, project) == 0


async def test_over_the_limit_already_refuses_an_upload_start(sessions: Sessions) -> None:
    project = await _project(sessions, "over")
    await _blob(sessions, project, d(1), 300)
    async with sessions() as session:
        assert await usage.refused_start(session, project, Clock.of(WINDOW)) is None
        quota = await queries.quota_of(session, project)
        assert quota is not None
        await queries.set_hard(session, quota, 200)
        await session.commit()
    async with sessions() as session:
        refused = await usage.refused_start(session, project, Clock.of(WINDOW))
    assert refused is not None and refused.message.startswith("subtracting 0 B")


async def test_two_pushes_cannot_both_take_the_last_free_bytes(sessions: Sessions) -> None:
    project = await _project(sessions, "race", hard=1000)
    await _blob(sessions, project, d(1), 400)

    async def push(n: int) -> Reservation | Overflow:
        async with sessions() as session:
            outcome = await usage.reserve_blob(session, project, d(n), 500, Clock.of(WINDOW))
            await asyncio.sleep(0.2)  # hold the lock: the other waits, then counts this one
            await session.commit()
            return outcome

    outcomes = await asyncio.gather(push(2), push(3))
    assert sorted(isinstance(o, Reservation) for o in outcomes) == [False, True]
    assert await _used(sessions, project) == 900


async def test_a_project_without_a_quota_gets_the_default(sessions: Sessions) -> None:
    async with sessions() as session:
        project = projects.new_project(session, name="bare", public=False, owner=None)
        await session.flush()
        await queries.configure(session, queries.STORAGE_PER_PROJECT, 123)
        await session.commit()
    async with sessions() as session:
        assert await usage.locked_hard(session, project.id) == 123
        await session.commit()
    async with sessions() as session:
        await session.execute(update(QuotaBlob).values(size=0))
        views, total = await operations.list_quotas(
            session, project_id=project.id, sort="-used.storage", offset=0, limit=10, window=WINDOW
        )
    assert total == 1 and views[0].hard == 123 and views[0].used == 0


async def test_projects_are_named_for_a_recount(sessions: Sessions) -> None:
    from harborlite.errors import NotFound
    from harborlite.quotas.recount import Recount, projects_named

    one = await _project(sessions, "alpha")
    async with sessions() as session:
        assert (await projects_named(session, ["alpha"])) == {"alpha": one}
        assert "alpha" in await projects_named(session, None)
        try:
            await projects_named(session, ["alpha", "nope"])
        except NotFound as error:
            assert error.message == "no project named nope"
        else:
            raise AssertionError("an unknown project was not refused")
    line = Recount(MIB, 2 * MIB, 3, 4, 5, ["a/b@sha256:x"]).summary("alpha")
    assert line == (
        "alpha: 1.0 MiB -> 2.0 MiB (3 manifests, 4 blobs; 5 rows forgotten); the registry did "
        "not give 1 manifests: a/b@sha256:x"
    )
