"""Reading a project's unfinished uploads and blob sizes from a registry's storage folder (a
tree laid out as distribution lays it out), and the gateway's fallbacks when the upload state
does not say how many bytes an upload holds."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harborlite.quotas.uploads import (
    blob_size_on_disk,
    partial_uploads,
    scan_partial_uploads,
    upload_size_on_disk,
)
from harborlite.v2 import quota_guard
from harborlite.v2.routes import Kind, Route

REPOSITORIES = Path("docker/registry/v2/repositories")
UUID = "0b6c5a5e-2a8f-4c33-9f67-6f1c0f8b1d2e"


def _upload(root: Path, repository: str, uuid: str, size: int, age: float, started: str) -> None:
    folder = root / REPOSITORIES / repository / "_uploads" / uuid
    folder.mkdir(parents=True)
    (folder / "data").write_bytes(b"x" * size)
    (folder / "startedat").write_text(started)
    past = time.time() - age
    os.utime(folder / "data", (past, past))


def test_uploads_in_progress_are_found_in_nested_and_unindexed_repositories(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    old = (now - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    _upload(tmp_path, "proj/app", UUID, 10, 5 * 3600, old)
    _upload(tmp_path, "proj/deep/er/app", "second", 20, 1, now.isoformat())
    _upload(tmp_path, "other/app", "not-mine", 30, 1, now.isoformat())
    # the registry's own folders are not repositories: not walked into
    decoy = tmp_path / REPOSITORIES / "proj/app/_layers/sha256/_uploads/x"
    decoy.mkdir(parents=True)
    (decoy / "data").write_bytes(b"y")
    found = scan_partial_uploads(tmp_path, "proj", now=now, window=timedelta(hours=2), limit=10)
    assert [(u.repository, u.id, u.size, u.abandoned) for u in found] == [
        ("proj/deep/er/app", "second", 20, False),
        ("proj/app", UUID, 10, True),
    ]
    assert found[1].started_at is not None
    assert abs((found[1].started_at - (now - timedelta(hours=5))).total_seconds()) < 1
    assert (
        scan_partial_uploads(tmp_path, "proj", now=now, window=timedelta(hours=2), limit=1)[0].id
        == "second"
    )
    assert upload_size_on_disk(tmp_path, "proj/app", UUID) == 10
    assert upload_size_on_disk(tmp_path, "proj/app", "../../etc") is None
    assert upload_size_on_disk(tmp_path, "../proj", UUID) is None
    assert upload_size_on_disk(None, "proj/app", UUID) is None


async def test_unreadable_storage_is_said_so(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    assert await partial_uploads(None, "p", now=now, window=timedelta(hours=2)) is None
    assert await partial_uploads(tmp_path, "p", now=now, window=timedelta(hours=2)) is None
    (tmp_path / REPOSITORIES).mkdir(parents=True)
    assert await partial_uploads(tmp_path, "p", now=now, window=timedelta(hours=2)) == []


def test_a_blob_size_is_read_from_storage(tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    data = tmp_path / "docker/registry/v2/blobs/sha256/ab" / ("ab" * 32) / "data"
    data.parent.mkdir(parents=True)
    data.write_bytes(b"z" * 42)
    assert blob_size_on_disk(tmp_path, digest) == 42
    assert blob_size_on_disk(tmp_path, "sha256:" + "cd" * 32) is None
    assert blob_size_on_disk(tmp_path, "sha256:../../x") is None
    assert blob_size_on_disk(None, digest) is None


class _Upstream:
    def __init__(self, answer: tuple[int, dict[str, str], bytes]) -> None:
        self.answer = answer
        self.asked: list[str] = []

    async def fetch(self, method: str, repository: str, path: str, actions: Any) -> Any:
        self.asked.append(f"{method} {path}")
        return self.answer


async def test_without_the_upload_state_the_registry_is_asked() -> None:
    """A registry whose upload URLs carry no ``_state`` and whose storage is not readable:
    the upload status says how many bytes the upload holds (``Range: 0-N``)."""
    upstream = _Upstream((204, {"Range": "0-999"}, b""))
    services: Any = SimpleNamespace(storage_root=None, upstream=upstream)
    route = Route(Kind.UPLOAD, "p/app", UUID)
    scope = {
        "headers": [(b"content-length", b"24")],
        "query_string": b"digest=sha256%3Aab&x=1",
    }
    size, exact = await quota_guard._completed_size(services, scope, route, {"x": ["1"]})
    assert (size, exact) == (1024, True)
    assert upstream.asked == [f"GET /v2/p/app/blobs/uploads/{UUID}?x=1"]
    nothing: Any = SimpleNamespace(storage_root=None, upstream=_Upstream((404, {}, b"")))
    assert await quota_guard._completed_size(nothing, {"headers": []}, route, {}) == (0, False)
