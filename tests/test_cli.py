"""The ``harborlite`` admin commands call the same operations as the API and the portal, so
they refuse what those refuse, with the operation's reason, and change nothing when they do."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

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
