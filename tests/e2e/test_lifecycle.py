"""Starting, supervising and stopping: first start, the registry child, Ctrl-C, bad settings,
an external registry, and `harborlite reindex` repairing the index."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.harness import ROOT, cleanup, start_harborlite
from tests.support.clients import skopeo_copy
from tests.support.images import build_oci_layout
from tests.support.processes import RegistryServer, TokenAuthConfig, free_port


def health(url: str) -> dict[str, object]:
    return dict(httpx.get(f"{url}/api/v2.0/health", timeout=5).json())


def registry_component(url: str) -> str:
    components = health(url)["components"]
    assert isinstance(components, list)
    return str(next(c for c in components if c["name"] == "registry")["status"])


def test_registry_child_is_restarted_and_ctrl_c_stops_both() -> None:
    server = start_harborlite()
    try:
        pid_line = next(
            line for line in server.log().splitlines() if "registry started (pid" in line
        )
        pid = int(pid_line.split("(pid ")[1].split(")")[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        seen_unhealthy = False
        while time.monotonic() < deadline and not seen_unhealthy:
            seen_unhealthy = registry_component(server.url) == "unhealthy"
            time.sleep(0.02)
        assert seen_unhealthy, "health must report the registry down while it restarts"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and registry_component(server.url) != "healthy":
            time.sleep(0.1)
        assert health(server.url)["status"] == "healthy"
        assert "registry exited" in server.log() and "registry is back" in server.log()
        new_pid = int(server.log().rsplit("registry started (pid ", 1)[1].split(")")[0])
        assert new_pid != pid
        # Ctrl-C: uvicorn shuts down cleanly, harborlite says so in one line and exits 0
        assert server.stop() == 0
        assert server.log().endswith("harborlite stopped")
        time.sleep(0.2)
        with pytest.raises(ProcessLookupError):
            os.kill(new_pid, 0)  # Ctrl-C took the registry child down too
    finally:
        cleanup(server)


def test_first_start_generates_admin_password() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="harborlite-first-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBORLITE_")}
    server = start_harborlite(data_dir=data_dir, extra_env={"HARBORLITE_ADMIN_PASSWORD": ""})
    try:
        del env
        saved = data_dir / "admin-password"
        assert saved.stat().st_mode & 0o777 == 0o600
        password = saved.read_text().strip()
        assert password in server.log()  # printed once
        me = httpx.get(f"{server.url}/api/v2.0/users/current", auth=("admin", password))
        assert me.status_code == 200 and me.json()["sysadmin_flag"] is True
        library = httpx.get(f"{server.url}/api/v2.0/projects/library", auth=("admin", password))
        assert library.json()["metadata"]["public"] == "true"
    finally:
        cleanup(server)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HARBORLITE_PORT", "not-a-port"),
        ("HARBORLITE_EXTERNAL_URL", "nohost"),
        ("HARBORLITE_DATABASE_URL", "mysql://db/x"),
        ("HARBORLITE_TOKEN_EXPIRATION", "-1"),
    ],
)
def test_bad_setting_stops_the_start_naming_it(name: str, value: str, tmp_path: Path) -> None:
    env = {**os.environ, "HARBORLITE_DATA_DIR": str(tmp_path), name: value}
    result = subprocess.run(
        [sys.executable, "-m", "harborlite", "serve"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert name in result.stderr
    assert not (tmp_path / "harborlite.db").exists()  # nothing half-done


def test_help_explains_every_subcommand() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "harborlite", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    for command in ("serve", "user", "project", "member", "migrate", "reindex", "registry-config"):
        assert command in out


def test_external_registry_and_cli(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = {
        **os.environ,
        "HARBORLITE_DATA_DIR": str(data_dir),
        "HARBORLITE_PORT": str(port),
        "HARBORLITE_ADMIN_PASSWORD": "Harbor12345",
    }
    printed = subprocess.run(
        [sys.executable, "-m", "harborlite", "registry-config"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "rootcertbundle" in printed
    auth = TokenAuthConfig.of_harborlite(f"http://127.0.0.1:{port}", data_dir / "token.crt")
    with RegistryServer(tmp_path / "registry", token_auth=auth) as registry:

        def cli(*args: str) -> str:
            return subprocess.run(
                [sys.executable, "-m", "harborlite", *args],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                input="S3cretPass\n",
            ).stdout

        assert "created user ci-bot" in cli("user", "create", "ci-bot", "--password-stdin")
        assert "created private project" in cli("project", "create", "builds")
        assert "developer of builds" in cli("member", "add", "builds", "ci-bot", "developer")
        server = start_harborlite(
            data_dir=data_dir,
            extra_env={"HARBORLITE_REGISTRY_URL": registry.url, "HARBORLITE_PORT": str(port)},
        )
        try:
            layout = tmp_path / "layout"
            build_oci_layout(layout, "v1", [50_000], seed=5)
            skopeo_copy(
                f"oci:{layout}:v1",
                f"docker://{server.host}/builds/app:v1",
                creds=("ci-bot", "S3cretPass"),
            )
            assert (registry.storage_root / "docker/registry/v2/repositories/builds/app").exists()
            assert "embedded" not in server.log().split("registry:")[1].splitlines()[0]
        finally:
            cleanup(server)


def test_reindex_rebuilds_the_index(tmp_path: Path) -> None:
    server = start_harborlite()
    try:
        layout = tmp_path / "layout"
        built = build_oci_layout(layout, "v1", [40_000, 60_000], seed=9)
        for tag in ("v1", "v2"):
            skopeo_copy(
                f"oci:{layout}:v1", f"docker://{server.host}/library/re:{tag}", creds=server.admin
            )
        server.stop()
        db = sqlite3.connect(server.data_dir / "harborlite.db")
        db.execute("DELETE FROM tags")
        db.execute("DELETE FROM artifacts")
        db.execute("DELETE FROM repositories")
        db.commit()
        env = {
            **os.environ,
            "HARBORLITE_DATA_DIR": str(server.data_dir),
            "HARBORLITE_ADMIN_PASSWORD": "Harbor12345",
        }
        out = subprocess.run(
            [sys.executable, "-m", "harborlite", "reindex"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        assert "indexed 1 repositories, 1 artifacts, 2 tags" in out
        rows = db.execute(
            "SELECT a.digest, a.type, t.name FROM artifacts a JOIN tags t ON t.artifact_id = a.id"
            " ORDER BY t.name"
        ).fetchall()
        assert rows == [
            (built.manifest_digest, "IMAGE", "v1"),
            (built.manifest_digest, "IMAGE", "v2"),
        ]
        db.close()
    finally:
        cleanup(server)


def test_a_killed_harborlite_leaves_no_registry_behind() -> None:
    server = start_harborlite()
    try:
        line = next(x for x in server.log().splitlines() if "registry started (pid" in x)
        pid = int(line.split("(pid ")[1].split(")")[0])
        server.process.kill()  # SIGKILL: no shutdown code runs
        server.process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        cleanup(server)
