"""The data folder is private: everything harborlite and its registry write there is 0700/0600
(an older install's readable files are tightened at start), and harborlite refuses to start on a
data folder other users can write to or that holds another user's files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.pushing import Pusher
from tests.harness import ROOT, cleanup, start_harborlite


def _modes(folder: Path) -> dict[str, int]:
    """Every folder and file under ``folder`` (itself included) and its permission bits."""
    found = {".": stat.S_IMODE(folder.lstat().st_mode)}
    for root, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            path = Path(root, name)
            found[str(path.relative_to(folder))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_everything_in_the_data_folder_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # an older install: a folder and files every local user could read
    (data / "old-logs").mkdir(parents=True, mode=0o755)
    data.chmod(0o755)
    (data / "old-logs").chmod(0o755)
    (data / "old-logs" / "harborlite.log.1").write_text("an old log\n")
    (data / "old-logs" / "harborlite.log.1").chmod(0o644)
    server = start_harborlite(data_dir=data)
    try:
        with Pusher(server) as pusher:  # the registry's storage gets layers and manifests
            pusher.image("library/private", "v1")
        server.api("GET", "/users/current", auth=server.admin)  # a login: the database written
    finally:
        server.stop()
    try:
        modes = _modes(data)
        for expected in ("token.key", "harborlite.db", "registry.log", "registry.yml"):
            assert expected in modes, sorted(modes)
        assert any(name.startswith("registry/docker/registry/v2/blobs/") for name in modes)
        exposed = {name: f"{mode:04o}" for name, mode in modes.items() if mode & 0o077}
        assert exposed == {}, "readable or writable by others"
        folders = [name for name in modes if (data / name).is_dir()]
        assert all(modes[name] == 0o700 for name in folders), {n: oct(modes[n]) for n in folders}
    finally:
        cleanup(server)


def _refused_start(data: Path) -> str:
    with pytest.raises(RuntimeError) as failed:
        server = start_harborlite(data_dir=data)
        cleanup(server)
    return str(failed.value)


@pytest.mark.parametrize("writable", [".", "harborlite.db", "registry"])
def test_serve_refuses_a_data_folder_others_can_write(tmp_path: Path, writable: str) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "harborlite.db").touch(mode=0o600)
    (data / "registry").mkdir(mode=0o700)
    target = data / writable
    target.chmod(0o775 if target.is_dir() else 0o664)
    said = _refused_start(data)
    assert "exited with" in said and "exited with 0" not in said, said
    assert f"{target.resolve() if writable != '.' else data.resolve()} is writable" in said, said
    assert f"chmod -R go-rwx {data.resolve()}" in said, said
    assert not (data / "token.key").exists()  # refused before writing anything


def test_a_command_refuses_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o770)
    data.chmod(0o770)
    ran = subprocess.run(
        [sys.executable, "-m", "harborlite", "migrate"],
        env={**os.environ, "HARBORLITE_DATA_DIR": str(data)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode != 0
    assert ran.stderr.strip().splitlines() == [
        f"harborlite: refusing to start: {data.resolve()} is writable by group or others "
        "(mode 0770), so its contents may have been changed by another user; check it, then "
        f"fix: chmod -R go-rwx {data.resolve()}"
    ], ran.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_serve_refuses_a_file_of_another_user(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "token.key").write_text("planted\n")
    (data / "token.key").chmod(0o600)
    os.chown(data / "token.key", 65534, 65534)
    said = _refused_start(data)
    assert f"{(data / 'token.key').resolve()} in the data folder is owned by" in said, said
    assert "fix: chown -R" in said, said
