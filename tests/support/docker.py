"""A real Docker engine for tests: Debian's ``dockerd`` as a plain child process, and its CLI.

``dockerd`` runs as root with no systemd: its own data root, exec root, pidfile and socket in a
temporary folder, no iptables, no bridge, cgroupfs, and a daemon config whose
``insecure-registries`` lets it speak plain HTTP to harborlite on loopback. It starts its own
containerd under the exec root and stops on SIGTERM. Each :class:`DockerCli` has its own
``DOCKER_CONFIG`` folder, so logins of one test never leak into another; the daemon (its images
and its layer cache) is shared by the tests of one pytest worker.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from .commands import ClientError, run_client
from .processes import ManagedProcess, StartupError, _Server, _unix_socket_ready, which

# Debian's docker.io, installed by `make test`: the CLI at /usr/bin/docker, whatever else PATH has
DOCKER_CLI = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
STORAGE_DRIVER = os.environ.get("HARBORLITE_TEST_DOCKER_STORAGE", "overlay2")


class Dockerd(_Server):
    """``dockerd`` with everything under one temporary folder; ``socket`` is its API.

    ``data_root`` (images and layers) may live elsewhere, e.g. a scratch folder whose path is
    too long for the sockets of ``workdir``; it is removed with the rest on :meth:`stop`.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        storage_driver: str = STORAGE_DRIVER,
        data_root: Path | None = None,
    ):
        # short paths: containerd's socket lives under the exec root (108-byte limit)
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="dkd-"))
        self.data_root = data_root or self.workdir / "data"
        self.exec_root = self.workdir / "x"
        self.socket = self.workdir / "docker.sock"
        config = self.workdir / "daemon.json"
        # 127.0.0.0/8 is insecure to docker already; said here so the intent is plain
        config.write_text(json.dumps({"insecure-registries": ["127.0.0.0/8"]}))
        dockerd = which("dockerd") or DOCKERD
        argv = [
            dockerd,
            "--config-file",
            str(config),
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--pidfile",
            str(self.workdir / "docker.pid"),
            "-H",
            f"unix://{self.socket}",
            f"--storage-driver={storage_driver}",
            "--iptables=false",
            "--ip-masq=false",
            "--bridge=none",
            "--exec-opt",
            "native.cgroupdriver=cgroupfs",
        ]
        if not os.path.exists(dockerd):
            raise StartupError(f"{dockerd} is missing: `make test` installs Debian's docker.io")
        self.process = ManagedProcess("dockerd", argv, self.workdir / "dockerd.log")
        try:
            self.process.wait_until(self._ready, timeout=60)
        except BaseException:
            # a daemon that did not come up may still have mounted its data root on itself
            self.stop()
            raise

    def _ready(self) -> bool:
        if not _unix_socket_ready(self.socket):
            return False
        probe = subprocess.run(
            [
                DOCKER_CLI,
                "-H",
                f"unix://{self.socket}",
                "version",
                "--format",
                "{{.Server.Version}}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return probe.returncode == 0

    def cli(self, config_dir: Path) -> DockerCli:
        return DockerCli(self, config_dir)

    def stop(self) -> None:
        self.process.stop(timeout=20)
        netns = self.exec_root / "netns" / "default"
        if os.path.ismount(netns):
            subprocess.run(["umount", str(netns)], check=False, capture_output=True)
        for folder in (self.workdir, self.data_root):
            for mounted in _mounts_under(folder):
                subprocess.run(["umount", "-l", mounted], check=False, capture_output=True)
        shutil.rmtree(self.data_root, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _mounts_under(folder: Path) -> list[str]:
    """Mount points left under ``folder`` (overlay layers of a daemon that was killed)."""
    prefix = str(folder) + "/"
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 1 and fields[1].startswith(prefix):
            points.append(fields[1])
    return sorted(points, key=len, reverse=True)


class DockerCli:
    """The docker CLI against one daemon, with its own config folder (its logins)."""

    def __init__(self, daemon: Dockerd, config_dir: Path) -> None:
        self.daemon = daemon
        self.config_dir = config_dir
        config_dir.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.daemon.socket}",
            "DOCKER_CONFIG": str(self.config_dir),
            "DOCKER_BUILDKIT": "0",
            "DOCKER_CLI_EXPERIMENTAL": "enabled",  # `docker manifest` on older CLIs
        }

    def run(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        timeout: float = 300.0,
    ) -> subprocess.CompletedProcess[str]:
        """``docker ARGS``; with ``check``, a non-zero exit raises ClientError."""
        return run_client(
            [DOCKER_CLI, *args],
            env={**self.env, **(env or {})},
            input=input,
            check=check,
            timeout=timeout,
        )

    def login(
        self, host: str, user: str, password: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``docker login --password-stdin``, as the article does it."""
        return self.run(
            "login", "-u", user, "--password-stdin", host, input=password + "\n", check=check
        )

    def logout(self, host: str) -> subprocess.CompletedProcess[str]:
        return self.run("logout", host)

    def config(self) -> dict[str, object]:
        """What docker wrote to ``config.json`` (its logins)."""
        path = self.config_dir / "config.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def push(self, ref: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("push", ref, check=check)

    def pull(
        self, ref: str, *, platform: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        args = ["pull", *(["--platform", platform] if platform else []), ref]
        return self.run(*args, check=check)

    def tag(self, source: str, target: str) -> None:
        self.run("tag", source, target)

    def rmi(self, *refs: str) -> None:
        self.run("rmi", "--force", *refs)

    def image_id(self, ref: str) -> str:
        return self.run("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()

    def inspect(self, ref: str) -> dict[str, object]:
        answer: list[dict[str, object]] = json.loads(self.run("image", "inspect", ref).stdout)
        return answer[0]

    def repo_digest(self, ref: str, repository: str) -> str:
        """The digest docker recorded for ``ref`` in ``repository`` (after a push or pull)."""
        digests = self.inspect(ref).get("RepoDigests") or []
        assert isinstance(digests, list)
        for entry in digests:
            name, _, digest = str(entry).partition("@")
            if name == repository:
                return digest
        raise AssertionError(f"no digest for {repository} in {digests}")

    def has_image(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, check=False).returncode == 0

    def build_scratch(
        self,
        context: Path,
        tag: str,
        layers: Sequence[int],
        *,
        seed: int,
        platform: str | None = None,
    ) -> str:
        """Build ``FROM scratch`` with one layer of random bytes per size; the image id.

        The same sizes and seed give the same layers (and the same image id for one platform).
        """
        context.mkdir(parents=True, exist_ok=True)
        lines = ["FROM scratch"]
        rng = random.Random(seed)
        for number, size in enumerate(layers):
            name = f"layer{number}.bin"
            with open(context / name, "wb") as out:
                # in blocks: randbytes of more than 256 MiB overflows (a C int of bits); blocks
                # of a multiple of 4 bytes give the very bytes one call would
                for start in range(0, size, _RANDOM_BLOCK):
                    out.write(rng.randbytes(min(_RANDOM_BLOCK, size - start)))
            lines.append(f"COPY {name} /{name}")
        (context / "Dockerfile").write_text("\n".join(lines) + "\n")
        args = ["build", "--quiet", "--tag", tag]
        if platform:
            args += ["--platform", platform]
        built = self.run(*args, str(context))
        return built.stdout.strip().splitlines()[-1]


_RANDOM_BLOCK = 16 * 1024 * 1024


def failed_output(error: ClientError) -> str:
    """What docker printed when it failed (it writes errors to stderr)."""
    return f"{error.stderr}\n{error.stdout}"


DOCKER_COMPOSE = "/usr/bin/docker-compose"


class Compose:
    """Debian's ``docker-compose`` (Compose 1.29) against one daemon, for one project name."""

    def __init__(
        self,
        docker: DockerCli,
        project_dir: Path,
        project: str,
        variables: Mapping[str, str],
        files: Sequence[Path] = (),
    ) -> None:
        if not os.path.exists(DOCKER_COMPOSE):
            raise StartupError(f"{DOCKER_COMPOSE} is missing: `make test` installs docker-compose")
        self.docker = docker
        self.project_dir = project_dir
        self.project = project
        self.variables = dict(variables)
        self.files = list(files) or [project_dir / "docker-compose.yml"]

    def run(
        self, *args: str, check: bool = True, timeout: float = 600.0
    ) -> subprocess.CompletedProcess[str]:
        """``docker-compose ARGS``; with ``check``, a non-zero exit raises ClientError."""
        argv = [DOCKER_COMPOSE, "--ansi", "never", "--project-directory", str(self.project_dir)]
        for file in self.files:
            argv += ["--file", str(file)]
        argv += ["--project-name", self.project, *args]
        env = {**self.docker.env, **self.variables, "COMPOSE_INTERACTIVE_NO_CLI": "1"}
        return run_client(argv, env=env, check=check, timeout=timeout)

    def container(self, service: str) -> str:
        """The id of the (first) container of ``service``."""
        return self.run("ps", "--quiet", service).stdout.strip().splitlines()[0]

    def logs(self, *services: str) -> str:
        result = self.run("logs", "--no-color", *services, check=False)
        return result.stdout + result.stderr
