"""Abandoned uploads: the purge job (on the job mechanism, scheduled hourly) removes an upload
the registry started more than ``upload_purge_hours`` ago and keeps a fresh one, which the client
can still finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from harborlite.db.engine import make_engine, make_sessionmaker
from harborlite.db.models import JobExecution, JobSchedule
from harborlite.uploads.purge import UPLOAD_PURGE, purge, purge_now, uploads
from tests.api.pushing import Pusher, digest_of
from tests.harness import Harborlite, own_harborlite

REPOSITORY = "library/uploading"


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite()


def _start_upload(pusher: Pusher) -> str:
    headers = pusher._headers(REPOSITORY)
    started = pusher.client.post(f"/v2/{REPOSITORY}/blobs/uploads/", headers=headers)
    assert started.status_code == 202, started.text
    return str(started.headers["Location"])


def _upload_dir(server: Harborlite, location: str) -> Path:
    uuid = location.split("?")[0].rstrip("/").rsplit("/", 1)[1]
    root = server.data_dir / "registry" / "docker" / "registry" / "v2" / "repositories"
    return root / REPOSITORY / "_uploads" / uuid


async def _run_purge(server: Harborlite) -> JobExecution:
    engine = make_engine(f"sqlite+aiosqlite:///{server.data_dir / 'harborlite.db'}")
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            schedule = (
                await session.execute(select(JobSchedule).where(JobSchedule.kind == UPLOAD_PURGE))
            ).scalar_one()
            assert (schedule.schedule_type, schedule.cron) == ("Hourly", "0 0 * * * *")
            execution_id = (await purge_now(session)).id
            await session.commit()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            async with sessions() as session:
                execution = await session.get(JobExecution, execution_id)
                assert execution is not None
                if execution.status not in ("Pending", "Running"):
                    return execution
            await asyncio.sleep(0.2)
        raise AssertionError("the purge did not run")
    finally:
        await engine.dispose()


def test_the_purge_job_removes_an_old_upload_and_keeps_a_fresh_one(server: Harborlite) -> None:
    with Pusher(server) as pusher:
        old, fresh = _start_upload(pusher), _start_upload(pusher)
        old_dir, fresh_dir = _upload_dir(server, old), _upload_dir(server, fresh)
        assert (old_dir / "startedat").is_file() and (fresh_dir / "startedat").is_file()
        (old_dir / "startedat").write_text("2020-01-01T00:00:00Z")  # abandoned long ago
        execution = asyncio.run(_run_purge(server))
        assert execution.status == "Success", execution.log
        assert f"removed upload {old_dir.name} of {REPOSITORY}" in execution.log
        assert "removed 1 abandoned uploads" in execution.log
        assert not old_dir.exists()
        assert fresh_dir.is_dir()
        # the fresh upload still finishes; the purged one is gone for the registry too
        data = b"a layer pushed after the purge"
        headers = {**pusher._headers(REPOSITORY), "Content-Type": "application/octet-stream"}
        done = pusher.client.put(f"{fresh}&digest={digest_of(data)}", content=data, headers=headers)
        assert done.status_code == 201, done.text
        gone = pusher.client.put(f"{old}&digest={digest_of(data)}", content=data, headers=headers)
        assert gone.status_code == 404, gone.text
    assert "purged the abandoned upload" in server.log()


def test_purge_reads_startedat_and_walks_nested_repositories(tmp_path: Path) -> None:
    root = tmp_path / "docker" / "registry" / "v2" / "repositories"
    now = time.time()
    made = {}
    for repository, uuid, started in [
        ("p/app", "old", "2020-01-01T00:00:00Z"),
        ("p/team/deep/app", "old2", "2020-01-01T00:00:00.123456789Z"[:26] + "Z"),
        ("p/app", "fresh", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))),
    ]:
        folder = root / repository / "_uploads" / uuid
        folder.mkdir(parents=True)
        (folder / "startedat").write_text(started)
        (folder / "data").write_bytes(b"x")
        made[uuid] = folder
    (root / "p/app/_layers/sha256").mkdir(parents=True)
    assert {u.uuid for u in uploads(tmp_path)} == {"old", "old2", "fresh"}
    removed = purge(tmp_path, 24 * 3600, now=now)
    assert sorted((u.repository, u.uuid) for u in removed) == [
        ("p/app", "old"),
        ("p/team/deep/app", "old2"),
    ]
    assert made["fresh"].is_dir() and not made["old"].exists() and not made["old2"].exists()
