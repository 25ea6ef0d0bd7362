"""Portal page render times with 1,000 projects and 10,000 artifacts.

    python bench/portal_pages.py              # full size, prints a table, exit 1 if over target
    python bench/portal_pages.py --smoke      # 50 projects, 500 artifacts: checks it still runs
    python bench/portal_pages.py --json out.json

From bench/run.py::

    from portal_pages import run_portal_bench
    rows = run_portal_bench(workdir, smoke=smoke)   # list of dicts, one per page

Seeds a fresh database directly (bulk inserts: projects, members, repositories, artifacts, tags,
audit entries over the last 30 days), starts a real ``harborlite serve`` on it (embedded
registry), signs in through the login form as the admin and as a developer who belongs to 100
projects, and requests each page ``repeats`` times. The time reported is the server's own
(the ``Server-Timing: app;dur=`` header the portal sets: from the request entering harborlite's
middleware to the response start), so client overhead does not count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harborlite.accounts.passwords import hash_password_blocking  # noqa: E402
from harborlite.db.engine import make_engine, migrate  # noqa: E402
from harborlite.db.models import (  # noqa: E402
    Artifact,
    AuditLog,
    Member,
    Project,
    Repository,
    Tag,
    User,
)
from tests.harness import ADMIN_PASSWORD, cleanup, start_harborlite  # noqa: E402

TARGET_MS = 100.0
DEVELOPER = "bench-developer"
DEVELOPER_PASSWORD = "Bench12345x"
_TIMING = re.compile(r"app;dur=([0-9.]+)")
_CSRF = re.compile(r'name="csrf-token" content="([^"]*)"')


@dataclass(frozen=True)
class Size:
    projects: int
    artifacts: int
    audit_entries: int
    repeats: int


FULL = Size(projects=1000, artifacts=10_000, audit_entries=30_000, repeats=30)
SMOKE = Size(projects=50, artifacts=500, audit_entries=1_000, repeats=3)


async def seed(database_url: str, size: Size) -> dict[str, str]:
    """Fill an empty database; returns names of a busy project and repository to visit."""
    rng = random.Random(4)
    engine = make_engine(database_url)
    await migrate(engine)
    now = datetime.now(UTC)
    admin_hash = hash_password_blocking(ADMIN_PASSWORD)
    dev_hash = hash_password_blocking(DEVELOPER_PASSWORD)
    repos_per_project = 2
    n_repos = size.projects * repos_per_project
    async with engine.begin() as conn:
        await conn.execute(
            User.__table__.insert(),
            [
                {
                    "id": 1,
                    "username": "admin",
                    "password_hash": admin_hash,
                    "sysadmin": True,
                    "email": "",
                    "realname": "system admin",
                    "comment": "",
                    "disabled": False,
                    "creation_time": now,
                    "update_time": now,
                },
                {
                    "id": 2,
                    "username": DEVELOPER,
                    "password_hash": dev_hash,
                    "sysadmin": False,
                    "email": "dev@example.com",
                    "realname": "",
                    "comment": "",
                    "disabled": False,
                    "creation_time": now,
                    "update_time": now,
                },
            ],
        )
        projects = [
            {
                "id": i,
                "name": f"project-{i:04d}",
                "public": i % 4 == 0,
                "owner_id": 1,
                "project_metadata": {"public": "true" if i % 4 == 0 else "false"},
                "creation_time": now - timedelta(days=400 - i % 400),
                "update_time": now,
            }
            for i in range(1, size.projects + 1)
        ]
        await conn.execute(Project.__table__.insert(), _columns(Project, projects))
        members = [
            {"project_id": i, "user_id": 1, "role_id": 1, "creation_time": now, "update_time": now}
            for i in range(1, size.projects + 1)
        ] + [
            {"project_id": i, "user_id": 2, "role_id": 2, "creation_time": now, "update_time": now}
            for i in range(1, size.projects + 1, max(1, size.projects // 100))
        ]
        await conn.execute(Member.__table__.insert(), members)
        repositories = [
            {
                "id": r,
                "project_id": (r - 1) // repos_per_project + 1,
                "name": f"project-{(r - 1) // repos_per_project + 1:04d}/service-{r % 7}-{r}",
                "description": "",
                "pull_count": rng.randint(0, 5000),
                "creation_time": now - timedelta(days=90),
                "update_time": now - timedelta(minutes=r),
            }
            for r in range(1, n_repos + 1)
        ]
        await conn.execute(Repository.__table__.insert(), repositories)
        artifacts, tags = [], []
        for a in range(1, size.artifacts + 1):
            repository_id = (a - 1) % n_repos + 1
            pushed = now - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
            artifacts.append(
                {
                    "id": a,
                    "repository_id": repository_id,
                    "digest": "sha256:" + f"{a:064x}",
                    "media_type": "application/vnd.oci.image.config.v1+json",
                    "manifest_media_type": "application/vnd.oci.image.manifest.v1+json",
                    "type": "IMAGE",
                    "size": rng.randint(2_000_000, 900_000_000),
                    "pusher": "admin",
                    "push_time": pushed,
                    "pull_time": None,
                    "pull_count": 0,
                    "extra_attrs": {"os": "linux", "architecture": "amd64"},
                    "references": [],
                    "annotations": {},
                }
            )
            tags.append(
                {
                    "repository_id": repository_id,
                    "artifact_id": a,
                    "name": f"v1.{a}",
                    "push_time": pushed,
                    "pull_time": None,
                }
            )
        await conn.execute(Artifact.__table__.insert(), artifacts)
        await conn.execute(Tag.__table__.insert(), tags)
        entries = []
        for _ in range(size.audit_entries):
            project_id = rng.randint(1, size.projects)
            entries.append(
                {
                    "project_id": project_id,
                    "username": rng.choice(["admin", DEVELOPER, "ci"]),
                    "operation": rng.choice(["push", "pull", "pull", "pull", "create", "delete"]),
                    "resource_type": "artifact",
                    "resource": f"project-{project_id:04d}/app@sha256:{rng.getrandbits(64):016x}",
                    "op_time": now - timedelta(minutes=rng.randint(0, 60 * 24 * 45)),
                    "client_ip": "10.0.0.1",
                    "user_agent": "bench",
                    "success": True,
                    "detail": "",
                }
            )
        await conn.execute(AuditLog.__table__.insert(), entries)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:  # ids were given explicitly: move the sequences on
            for table in ("users", "projects", "repositories", "artifacts"):
                await conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT MAX(id) FROM {table}))"
                )
    await engine.dispose()
    busy = repositories[0]["name"]
    return {"project": busy.split("/")[0], "repository": busy, "artifact": artifacts[0]["digest"]}


def _columns(model: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Map attribute names onto column names (``project_metadata`` is the ``metadata`` column)."""
    mapping = {attr.key: attr.columns[0].name for attr in model.__mapper__.column_attrs}
    return [{mapping.get(k, k): v for k, v in row.items()} for row in rows]


def login(url: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    token = _CSRF.search(client.get("/login").text)
    assert token is not None
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token.group(1)}
    )
    if response.status_code != 303:
        raise RuntimeError(f"login as {username} failed: {response.status_code}")
    return client


def time_page(client: httpx.Client, path: str, repeats: int) -> dict[str, float]:
    server_ms: list[float] = []
    for _ in range(repeats + 1):
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        match = _TIMING.search(response.headers.get("server-timing", ""))
        if match is None:
            raise RuntimeError(f"{path} has no Server-Timing header")
        server_ms.append(float(match.group(1)))
    server_ms = server_ms[1:]  # the first request warms caches
    ordered = sorted(server_ms)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
    }


def run_portal_bench(
    workdir: Path, *, smoke: bool = False, database_url: str | None = None
) -> list[dict[str, Any]]:
    """Seed, serve, time. One dict per page: case, title, unit "ms", value (p50), p95, max,
    target_ms and ok (p95 under the target)."""
    size = SMOKE if smoke else FULL
    data_dir = workdir / "portal-bench"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    url = database_url or f"sqlite+aiosqlite:///{data_dir / 'harborlite.db'}"
    names = asyncio.run(seed(url, size))
    server = start_harborlite(database_url, data_dir=data_dir)
    rows: list[dict[str, Any]] = []
    try:
        admin = login(server.url, "admin", ADMIN_PASSWORD)
        developer = login(server.url, DEVELOPER, DEVELOPER_PASSWORD)
        project, repository = names["project"], names["repository"]
        pages = [
            ("dashboard_admin", "dashboard (admin: everything)", admin, "/"),
            ("dashboard_developer", "dashboard (developer in 100 projects)", developer, "/"),
            ("projects_admin", "projects list, page 1 (admin)", admin, "/projects"),
            ("projects_admin_p20", "projects list, page 20 (admin)", admin, "/projects?page=20"),
            ("projects_search", "projects search", admin, "/projects?q=project-05"),
            ("projects_developer", "projects list (developer)", developer, "/projects"),
            ("project_repositories", "project: repositories tab", admin, f"/projects/{project}"),
            ("project_members", "project: members tab", admin, f"/projects/{project}/members"),
            ("project_logs", "project: logs tab", admin, f"/projects/{project}/logs"),
            ("repository", "repository: artifacts", admin, f"/repositories/{repository}"),
            ("admin_users", "admin: users", admin, "/admin/users"),
            ("admin_logs", "admin: audit log", admin, "/admin/logs"),
            (
                "admin_logs_filtered",
                "admin: audit log, filtered",
                admin,
                "/admin/logs?operation=push&resource=project-0001",
            ),
            ("admin_system", "admin: system information", admin, "/admin/system"),
        ]
        if smoke:
            pages = pages[:3] + pages[9:10]
        for case, title, client, path in pages:
            timing = time_page(client, path, size.repeats)
            rows.append(
                {
                    "case": f"portal_{case}",
                    "title": f"portal {title}",
                    "unit": "ms",
                    "value": round(timing["p50"], 2),
                    "p95": round(timing["p95"], 2),
                    "max": round(timing["max"], 2),
                    "target_ms": TARGET_MS,
                    "ok": timing["p95"] < TARGET_MS,
                    "projects": size.projects,
                    "artifacts": size.artifacts,
                }
            )
        admin.close()
        developer.close()
    finally:
        cleanup(server)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default SQLite)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="harborlite-portal-bench-"))
    try:
        rows = run_portal_bench(workdir, smoke=args.smoke, database_url=args.database_url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if rows:
        print(
            f"portal pages, {rows[0]['projects']} projects, {rows[0]['artifacts']} artifacts; "
            f"server time in ms (target p95 < {TARGET_MS:.0f})"
        )
    print(f"{'page':<46} {'p50':>8} {'p95':>8} {'max':>8}")
    for row in rows:
        flag = "" if row["ok"] else "  OVER TARGET"
        print(
            f"{row['title']:<46} {row['value']:>8.1f} {row['p95']:>8.1f} {row['max']:>8.1f}{flag}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
