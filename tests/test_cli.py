"""The ``harborlite`` admin commands call the same operations as the API and the portal, so
they refuse what those refuse, with the operation's reason, and change nothing when they do."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.harness import ROOT


def cli(
    data_dir: Path, *args: str, password: str = "S3cretPass"
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HARBORLITE_DATA_DIR": str(data_dir),
        "HARBORLITE_ADMIN_PASSWORD": "Harbor12345",
    }
    return subprocess.run(
        [sys.executable, "-m", "harborlite", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=password + "\n",
        timeout=60,
    )


def rows(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(data_dir / "harborlite.db") as db:
        return db.execute(sql).fetchall()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    assert cli(path, "migrate").returncode == 0
    return path


@pytest.mark.parametrize("name", ["bad name!", "a" * 300, "", "colon:name"])
def test_user_create_refuses_a_name_the_api_refuses(data_dir: Path, name: str) -> None:
    done = cli(data_dir, "user", "create", name, "--password-stdin")
    assert done.returncode == 2, done
    assert "error: username must be" in done.stderr
    assert rows(data_dir, f"SELECT id FROM users WHERE username = '{name}'") == []


def test_user_create_refuses_a_weak_password(data_dir: Path) -> None:
    done = cli(data_dir, "user", "create", "weakling", "--password-stdin", password="short")
    assert done.returncode == 2, done
    assert done.stderr.startswith("error: ")
    assert rows(data_dir, "SELECT id FROM users WHERE username = 'weakling'") == []


def test_user_create_then_the_same_name_again(data_dir: Path) -> None:
    first = cli(data_dir, "user", "create", "ci-bot", "--password-stdin")
    assert first.returncode == 0, first
    assert "created user ci-bot" in first.stdout
    again = cli(data_dir, "user", "create", "ci-bot", "--password-stdin")
    assert again.returncode == 1
    assert "error: user ci-bot already exists" in again.stderr
    assert rows(data_dir, "SELECT count(*) FROM users WHERE username = 'ci-bot'") == [(1,)]
    audit = rows(
        data_dir,
        "SELECT username, operation FROM audit_logs WHERE resource_type = 'user' "
        "AND resource = 'ci-bot'",
    )
    assert audit == [("cli", "create")]


def test_project_create_refuses_a_bad_name_and_a_taken_one(data_dir: Path) -> None:
    bad = cli(data_dir, "project", "create", "Bad_Name!")
    assert bad.returncode == 2, bad
    assert bad.stderr.startswith("error: ")
    assert cli(data_dir, "project", "create", "builds").returncode == 0
    again = cli(data_dir, "project", "create", "builds")
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_member_add_names_what_is_missing(data_dir: Path) -> None:
    assert cli(data_dir, "project", "create", "team").returncode == 0
    assert cli(data_dir, "user", "create", "dev1", "--password-stdin").returncode == 0
    role = cli(data_dir, "member", "add", "team", "dev1", "boss")
    assert role.returncode == 2
    assert "unknown role 'boss'" in role.stderr
    project = cli(data_dir, "member", "add", "nowhere", "dev1", "developer")
    assert project.returncode == 1
    assert "nowhere" in project.stderr and "not found" in project.stderr
    user = cli(data_dir, "member", "add", "team", "ghost", "developer")
    assert user.returncode == 1
    assert "ghost" in user.stderr and "not found" in user.stderr
    added = cli(data_dir, "member", "add", "team", "dev1", "developer")
    assert added.returncode == 0, added
    assert "dev1 is developer of team" in added.stdout
    changed = cli(data_dir, "member", "add", "team", "dev1", "guest")
    assert changed.returncode == 0, changed
    assert "dev1 is guest of team" in changed.stdout
    assert rows(
        data_dir,
        "SELECT m.role_id FROM members m JOIN users u ON u.id = m.user_id "
        "JOIN projects p ON p.id = m.project_id WHERE u.username = 'dev1' AND p.name = 'team'",
    ) == [(3,)]


def test_user_disable_and_enable(data_dir: Path) -> None:
    assert cli(data_dir, "user", "create", "leaver", "--password-stdin").returncode == 0
    disabled = cli(data_dir, "user", "disable", "leaver")
    assert disabled.returncode == 0, disabled
    assert "user leaver is disabled" in disabled.stdout
    assert rows(data_dir, "SELECT disabled FROM users WHERE username = 'leaver'") == [(1,)]
    enabled = cli(data_dir, "user", "enable", "leaver")
    assert enabled.returncode == 0, enabled
    assert "user leaver is enabled" in enabled.stdout
    assert rows(data_dir, "SELECT disabled FROM users WHERE username = 'leaver'") == [(0,)]
    audit = rows(
        data_dir,
        "SELECT username, detail FROM audit_logs WHERE resource = 'leaver' "
        "AND operation = 'update' ORDER BY id",
    )
    assert audit == [("cli", "disabled"), ("cli", "enabled")]
    ghost = cli(data_dir, "user", "disable", "ghost")
    assert ghost.returncode == 1
    assert "error: user ghost not found" in ghost.stderr


def test_user_disable_reaches_a_running_server(tmp_path: Path) -> None:
    """Disabled from the command line, on the server's database: refused by the running
    server as a wrong password is, and let in again once enabled."""
    from tests.harness import cleanup, start_harborlite

    (tmp_path / "served").mkdir()
    server = start_harborlite(data_dir=tmp_path / "served")
    try:
        server.create_user("contractor", "S3cretPass")
        token = "/service/token?service=harbor-registry"
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get(token, auth=("contractor", "S3cretPass")).status_code == 200
            wrong = client.get(token, auth=("contractor", "Wr0ngPass"))
            assert wrong.status_code == 401
            assert cli(server.data_dir, "user", "disable", "contractor").returncode == 0
            deadline = time.monotonic() + 3  # revocation reaches the server within a second
            while (
                refused := client.get(token, auth=("contractor", "S3cretPass"))
            ).status_code == 200:
                assert time.monotonic() < deadline, "still let in after being disabled"
                time.sleep(0.1)
            assert (refused.status_code, refused.text) == (wrong.status_code, wrong.text)
            api = client.get("/api/v2.0/users/current", auth=("contractor", "S3cretPass"))
            assert api.status_code == 401
            assert cli(server.data_dir, "user", "enable", "contractor").returncode == 0
            assert client.get(token, auth=("contractor", "S3cretPass")).status_code == 200
    finally:
        cleanup(server)
