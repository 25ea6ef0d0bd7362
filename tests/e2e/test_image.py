"""harborlite's container image, built from the Dockerfile and run as production runs it.

The image is built on a Debian bookworm base made here (tests/support/base_image.py: no image
can be pulled from Docker Hub offline), with ``docker build --network host`` so that its ``pip
install`` reaches PyPI. It runs with ``--network host`` in docker-compose.yml's topology:
harborlite in front of a registry it did not start (Debian's ``docker-registry`` on this
machine), the registry trusting the certificate ``harborlite registry-config`` wrote into the
data folder the container has mounted, and harborlite reading the registry's storage through a
read-only mount. The docker CLI pushes and pulls through it, on SQLite (the image's default, a
file in the mounted data folder) and on PostgreSQL (what docker-compose.yml uses).

The registry is this machine's, not one installed into the image: the image is the one users
get (no registry inside, as in docker-compose.yml), and the registry's configuration is the
one an operator writes from ``harborlite registry-config``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.images import harborlite_image
from tests.harness import ROOT
from tests.support.base_image import BaseImage, base_image
from tests.support.docker import DockerCli, Dockerd
from tests.support.processes import PostgresServer, RegistryServer, TokenAuthConfig, free_port

log = logging.getLogger(__name__)

# a cold run makes the base with debootstrap first (about a minute here, more on a slow mirror)
pytestmark = pytest.mark.timeout(900)

ADMIN_PASSWORD = "Image-Admin-1"
STOP_TIMEOUT = 20


@dataclass(frozen=True)
class HarborliteImage:
    tag: str
    base: BaseImage
    uid: int
    gid: int
    build_seconds: float


@pytest.fixture(scope="module")
def image(dockerd: Dockerd, tmp_path_factory: pytest.TempPathFactory) -> HarborliteImage:
    """harborlite's image from the checkout's Dockerfile, on the test base (one build per
    daemon: each pytest worker has its own)."""
    docker = dockerd.cli(tmp_path_factory.mktemp("image-docker-config"))
    base = base_image(docker)
    # built once per checkout state and cached as a tarball (tests/deploy/images.py)
    built_set = harborlite_image(docker, base)
    tag = built_set.tags[""]
    took = built_set.built_seconds or 0.0
    ids = docker.run("run", "--rm", "--network", "none", tag, "sh", "-c", "id -u; id -g")
    uid, gid = (int(number) for number in ids.stdout.split())
    built = HarborliteImage(tag, base, uid, gid, took)
    log.info("%s; %s", base.describe(), built_set.describe())
    print(f"{base.describe()}; {built_set.describe()}")
    return built


def copy_of_checkout(target: Path) -> None:
    """The checkout's files as a developer's tree has them, without the heavy folders (put
    back below as decoys), plus what a working tree collects that must never reach a build."""
    shutil.copytree(ROOT, target, ignore=_heavy_folders, symlinks=True, copy_function=_copy)
    decoys = {
        "data/token.key": "-----BEGIN PRIVATE KEY-----\ndecoy\n",
        "data/admin-password": "decoy\n",
        "data/harborlite.db": "decoy",
        "data/registry/docker/registry/v2/blobs/decoy": "decoy",
        ".venv/bin/python": "decoy",
        ".git/config": "decoy",
        ".env": "HARBORLITE_ADMIN_PASSWORD=decoy\n",
        "test-artifacts/screenshots/decoy.png": "decoy",
        "build/lib/harborlite/decoy.py": "decoy",
        "harborlite.egg-info/PKG-INFO": "decoy",
        ".mypy_cache/decoy.json": "decoy",
        "harborlite/__pycache__/decoy.cpython-311.pyc": "decoy",
        "tests/decoy.txt": "decoy",
    }
    for name, text in decoys.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# at the top of the checkout only: big, or written by tests running beside this one
_HEAVY = {".venv", ".git", ".mypy_cache", ".ruff_cache", ".pytest_cache", "data", "test-artifacts"}


def _heavy_folders(folder: str, names: list[str]) -> set[str]:
    return _HEAVY & set(names) if Path(folder) == ROOT else set()


def _copy(source: str, target: str) -> None:
    try:
        shutil.copy2(source, target)
    except FileNotFoundError:
        pass  # removed while the tree was copied (another test's file)


def copied_sources(dockerfile: Path) -> list[str]:
    """The sources of the Dockerfile's ``COPY`` lines (the build context's part it uses)."""
    sources: list[str] = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def expected_context(tree: Path) -> set[str]:
    """The files of ``tree`` that the Dockerfile copies, without bytecode."""
    sources = copied_sources(tree / "Dockerfile")
    assert {"pyproject.toml", "harborlite"} <= set(sources), sources
    wanted: set[str] = set()
    for source in sources:
        top = tree / source
        for path in [top, *top.rglob("*")] if top.is_dir() else [top]:
            relative = path.relative_to(tree)
            if path.is_file() and "__pycache__" not in relative.parts:
                wanted.add(str(relative))
    return wanted


def test_build_context_holds_only_what_the_image_needs(docker: DockerCli, tmp_path: Path) -> None:
    """``docker build .`` sends the daemon the files the Dockerfile copies and nothing else:
    no data folder (signing key, database, admin password), no .venv, .git, caches or build
    output. Seen by the daemon itself: a ``FROM scratch`` image that copies the whole context,
    exported and listed."""
    tree = tmp_path / "checkout"
    copy_of_checkout(tree)
    probe = "context-probe:latest"
    docker.run(
        "build",
        "--quiet",
        "--tag",
        probe,
        "--file",
        "-",
        str(tree),
        input="FROM scratch\nCOPY . /ctx\n",
    )
    container = docker.run("create", probe, "none").stdout.strip()
    exported = tmp_path / "context.tar"
    try:
        docker.run("export", "--output", str(exported), container)
    finally:
        docker.run("rm", container, check=False)
        docker.run("rmi", probe, check=False)
    with tarfile.open(exported) as tar:
        sent = {
            member.name.removeprefix("ctx/")
            for member in tar.getmembers()
            if member.isfile() and member.name.startswith("ctx/")
        }
    assert not {name for name in sent if name.startswith(("data/", ".venv/", ".git/"))}
    assert sent == expected_context(tree)
    assert sum((tree / name).stat().st_size for name in sent) < 5_000_000


@contextmanager
def container(docker: DockerCli, *args: str) -> Iterator[str]:
    """``docker run --detach ARGS``; the container is removed afterwards, even on failure."""
    name = f"harborlite-{uuid.uuid4().hex[:12]}"
    docker.run("run", "--detach", "--name", name, *args)
    try:
        yield name
    finally:
        docker.run("rm", "--force", name, check=False)


def wait_healthy(docker: DockerCli, name: str, url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = docker.run("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
        if running != "true":
            raise AssertionError(f"harborlite's container exited:\n{container_log(docker, name)}")
        try:
            health = httpx.get(f"{url}/api/v2.0/health", timeout=2)
            if health.status_code == 200 and health.json()["status"] == "healthy":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    logs = container_log(docker, name)
    raise AssertionError(f"harborlite not healthy after {timeout} s:\n{logs}")


def container_log(docker: DockerCli, name: str) -> str:
    logs = docker.run("logs", name, check=False)
    return logs.stdout + logs.stderr


def owner_uid(pid: int) -> tuple[int, ...]:
    """Real, effective, saved and filesystem uid of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return tuple(int(field) for field in line.split()[1:])
    raise AssertionError(f"no Uid line for {pid}")


def test_image_serves_push_and_pull_in_front_of_a_registry(
    image: HarborliteImage, docker: DockerCli, postgres: PostgresServer, tmp_path: Path
) -> None:
    """On SQLite, the image's default (a file in the mounted data folder), then on PostgreSQL,
    as docker-compose.yml runs it. One test, so that one pytest worker builds the image."""
    serve_in_front_of_a_registry(image, docker, tmp_path / "sqlite", database_url=None)
    database_url = postgres.create_database()
    serve_in_front_of_a_registry(image, docker, tmp_path / "postgresql", database_url=database_url)


def serve_in_front_of_a_registry(
    image: HarborliteImage, docker: DockerCli, tmp_path: Path, *, database_url: str | None
) -> None:
    """registry-config, a registry trusting its certificate, the container in front of it: the
    image's user serves, docker pushes and pulls the same digest, ``docker stop`` ends it
    cleanly. The container is removed afterwards, even on failure."""
    tmp_path.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, image.uid, image.gid)  # the image's user writes its data folder
    config = docker.run(
        "run",
        "--rm",
        "--network",
        "none",
        "--volume",
        f"{data}:/data",
        image.tag,
        "harborlite",
        "registry-config",
    )
    assert "rootcertbundle: /data/token.crt" in config.stdout
    assert (data / "token.crt").stat().st_uid == image.uid
    assert (data / "token.key").stat().st_mode & 0o077 == 0

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    registry = RegistryServer(
        tmp_path / "registry",
        token_auth=TokenAuthConfig.of_harborlite(url, data / "token.crt"),
    )
    env = {
        # loopback: with --network host the image's 0.0.0.0 is every interface of this machine
        "HARBORLITE_HOST": "127.0.0.1",
        "HARBORLITE_PORT": str(port),
        "HARBORLITE_EXTERNAL_URL": url,
        "HARBORLITE_REGISTRY_URL": registry.url,
        "HARBORLITE_REGISTRY_STORAGE": "/var/lib/registry",
        "HARBORLITE_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    if database_url is not None:
        env["HARBORLITE_DATABASE_URL"] = database_url
    options = [f"--env={key}={value}" for key, value in env.items()]
    try:
        with container(
            docker,
            "--network",
            "host",
            "--volume",
            f"{data}:/data",
            "--volume",
            f"{registry.storage_root}:/var/lib/registry:ro",
            *options,
            image.tag,
        ) as name:
            wait_healthy(docker, name, url)
            if database_url is None:
                assert (data / "harborlite.db").stat().st_uid == image.uid

            # the process serving is the image's own user, not root
            pid = int(docker.run("inspect", "--format", "{{.State.Pid}}", name).stdout)
            assert owner_uid(pid) == (image.uid,) * 4
            assert image.uid != 0
            assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-3:-1] == [
                b"/opt/harborlite/bin/harborlite",
                b"serve",
            ]

            pushed, pulled = push_and_pull(docker, tmp_path, f"127.0.0.1:{port}")
            assert pulled == pushed
            log_text = container_log(docker, name)
            # blobs were served from the registry's storage, read through the read-only mount
            assert re.search(r"GET /v2/library/app/blobs/sha256:\w+ 200 .* via=storage", log_text)

            started = time.monotonic()
            docker.run("stop", "--time", str(STOP_TIMEOUT), name)
            stopped_in = time.monotonic() - started
            state = docker.run(
                "inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", name
            ).stdout.split()
            log_text = container_log(docker, name)
            assert state == ["0", "false"], log_text
            assert stopped_in < STOP_TIMEOUT, "SIGTERM did not stop it: docker killed it"
            assert "Traceback" not in log_text
            # docker's HTTPS probe of the plain-HTTP port included: nothing to warn about
            assert not re.search(r" (WARNING|ERROR|CRITICAL) ", log_text), log_text
            # the one line of a clean stop, last on its standard output
            printed = docker.run("logs", name).stdout.splitlines()
            assert printed[-1] == "harborlite stopped", log_text
    finally:
        registry.stop()


def push_and_pull(docker: DockerCli, tmp_path: Path, host: str) -> tuple[str, str]:
    """The article's flow through the container: login, tag, push, rmi, pull; both digests."""
    docker.login(host, "admin", ADMIN_PASSWORD)
    local = docker.build_scratch(tmp_path / "context", "image-probe:v1", [40_000, 300_000], seed=7)
    ref = f"{host}/library/app:v1"
    docker.tag(local, ref)
    pushed = push_digest(docker.push(ref).stdout)
    docker.rmi(ref, local)
    assert not docker.has_image(ref)
    pull = docker.pull(ref).stdout
    pulled = re.search(r"Digest: (sha256:[0-9a-f]{64})", pull)
    assert pulled, pull
    assert docker.repo_digest(ref, f"{host}/library/app") == pulled.group(1)
    return pushed, pulled.group(1)


def push_digest(output: str) -> str:
    found = re.search(r"v1: digest: (sha256:[0-9a-f]{64}) size: \d+", output)
    assert found, output
    return found.group(1)
