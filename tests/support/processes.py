"""Real servers for tests: the registry, PostgreSQL, Redis and containerd, as child processes.

Each server runs in its own process group, writes its output to a log file in its own
directory, and is stopped by signalling its leader and then killing whatever is left of the
group. A server that fails to start raises `StartupError` carrying the tail of its log.
An `atexit` hook stops any server a test forgot, so a run leaves no stray processes.
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from .commands import Creds, run_client

REGISTRY_BINARY = "/usr/bin/docker-registry"
POSTGRES_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
POSTGRES_OS_USER = "postgres"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# A Unix socket path longer than this does not fit in sockaddr_un (108 bytes with the NUL).
_MAX_SOCKET_PATH = 100


class StartupError(RuntimeError):
    """A server did not come up; the message ends with the tail of its log."""


def which(name: str) -> str | None:
    """The full path of an executable on PATH (or the sbin dirs), or None when absent."""
    path = os.environ.get("PATH", os.defpath) + ":/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


# Strong references: a server dropped without stop() is still stopped at exit.
def group_members(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes in process group `pgid`, from /proc."""
    members: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        # Fields after "(comm)": state, ppid, pgrp, ...; comm may hold spaces or parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


_live: set[ManagedProcess] = set()


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_live):
        process.stop()


class ManagedProcess:
    """One child process in a new session (own process group), output to `log_path`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.stop_signal = stop_signal
        self._log: IO[bytes] = open(log_path, "ab")  # closed in stop()
        self._popen: subprocess.Popen[bytes] = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            user=user,
            group=user,
            extra_groups=[] if user is not None else None,
            start_new_session=True,
        )
        self.pid = self._popen.pid
        _live.add(self)

    def running(self) -> bool:
        return self._popen.poll() is None

    def fail(self, reason: str) -> StartupError:
        """Stop the process and build the error to raise, with the tail of its log."""
        self.stop()
        return StartupError(
            f"{self.name} failed to start: {reason}\n"
            f"command: {' '.join(self.argv)}\n"
            f"--- last lines of {self.log_path} ---\n{log_tail(self.log_path)}"
        )

    def wait_until(self, ready: Callable[[], bool], timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll `ready` until true; raise StartupError if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            if not self.running():
                raise self.fail(f"exited with status {self._popen.returncode}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise self.fail(f"not ready after {timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Signal the leader, wait, then SIGKILL whatever remains of the process group."""
        if self.running():
            try:
                os.kill(self.pid, self.stop_signal)
            except ProcessLookupError:
                pass
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # The group id is the leader's pid (start_new_session); children may outlive the leader.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._popen.wait()
        deadline = time.monotonic() + timeout
        while group_members(self.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # SIGKILL is delivered asynchronously
        self._log.close()
        _live.discard(self)


class _Server:
    """Shared context-manager plumbing; subclasses set `process` in __init__."""

    process: ManagedProcess

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self.process.stop()

    @property
    def log_path(self) -> Path:
        return self.process.log_path


def _http_status(host: str, port: int, path: str) -> int | None:
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def _deep_merge(base: dict[str, object], extra: Mapping[str, object]) -> dict[str, object]:
    for key, value in extra.items():
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            base[key] = _deep_merge(current, value)
        else:
            base[key] = value
    return base


@dataclass(frozen=True)
class TokenAuthConfig:
    """The registry's `auth.token` section: whom it trusts to sign its bearer tokens."""

    realm: str
    service: str
    issuer: str
    rootcertbundle: Path

    @classmethod
    def of_harborlite(cls, url: str, certificate: Path) -> TokenAuthConfig:
        """Trust the harborlite at ``url`` (its token realm), whose signing certificate it is."""
        return cls(
            realm=f"{url}/service/token",
            service="harbor-registry",
            issuer="harborlite-token-issuer",
            rootcertbundle=certificate,
        )


class RegistryServer(_Server):
    """CNCF distribution 2.8 (`docker-registry serve`) with filesystem storage in `workdir`.

    Deletes are enabled. With `token_auth` the registry runs in token mode. `extra_config` is
    deep-merged into the generated config (e.g. `{"notifications": {...}}`).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        token_auth: TokenAuthConfig | None = None,
        extra_config: Mapping[str, object] | None = None,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.storage_root = workdir / "storage"
        self.storage_root.mkdir(exist_ok=True)
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage_root)},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "secret": uuid.uuid4().hex},
        }
        if token_auth is not None:
            config["auth"] = {
                "token": {
                    "realm": token_auth.realm,
                    "service": token_auth.service,
                    "issuer": token_auth.issuer,
                    "rootcertbundle": str(token_auth.rootcertbundle),
                }
            }
        if extra_config:
            _deep_merge(config, extra_config)
        self.config_path = workdir / "registry.yml"
        # JSON is YAML; no YAML library needed.
        self.config_path.write_text(json.dumps(config, indent=2))
        self.process = ManagedProcess(
            "docker-registry",
            [REGISTRY_BINARY, "serve", str(self.config_path)],
            workdir / "registry.log",
            cwd=workdir,
        )
        self.process.wait_until(lambda: _http_status("127.0.0.1", self.port, "/v2/") in (200, 401))


class PostgresServer(_Server):
    """PostgreSQL 15 as the `postgres` OS user, trust auth on loopback, fsync off.

    `workdir` (default: a fresh directory under the system temp dir, removed on stop) is given
    to the postgres user; every directory above it must be searchable by that user, which
    pytest's `tmp_path` (mode 0700) is not. The socket directory is inside `workdir`.
    """

    def __init__(self, workdir: Path | None = None, *, database: str = "harborlite") -> None:
        self._owns_workdir = workdir is None
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="harborlite-pg-"))
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.data_dir = workdir / "data"
        self.socket_dir = workdir / "sock"
        self.socket_dir.mkdir(exist_ok=True)
        for path in (workdir, self.socket_dir):
            shutil.chown(path, POSTGRES_OS_USER, POSTGRES_OS_USER)
        log_path = workdir / "postgres.log"
        log_path.touch()
        shutil.chown(log_path, POSTGRES_OS_USER, POSTGRES_OS_USER)
        self._initdb(log_path)
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "shared_buffers": "32MB",
            "logging_collector": "off",
        }
        argv = [str(POSTGRES_BIN_DIR / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        # SIGINT is PostgreSQL's "fast" shutdown: no waiting for clients to disconnect.
        self.process = ManagedProcess(
            "postgres",
            argv,
            log_path,
            cwd=workdir,
            user=POSTGRES_OS_USER,
            env=_postgres_env(),
            stop_signal=signal.SIGINT,
        )
        self.process.wait_until(self._ready)
        self.dsn = self.create_database(database)

    def _initdb(self, log_path: Path) -> None:
        argv = [
            str(POSTGRES_BIN_DIR / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]
        with open(log_path, "ab") as log:
            result = subprocess.run(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=_postgres_env(),
                user=POSTGRES_OS_USER,
                group=POSTGRES_OS_USER,
                extra_groups=[],
                check=False,
            )
        if result.returncode != 0:
            raise StartupError(
                f"initdb failed with status {result.returncode}\n"
                f"--- last lines of {log_path} ---\n{log_tail(log_path)}"
            )

    def _ready(self) -> bool:
        # Line 8 of postmaster.pid is the postmaster's status: "ready" once it takes connections.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
        """Run SQL through psql over the Unix socket, raising with stderr on failure."""
        argv = [
            str(POSTGRES_BIN_DIR / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        ]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({result.returncode}): {sql}\n{result.stderr}")
        return result

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database (named `name` or generated) and return its asyncpg URL."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name must be [A-Za-z0-9_]: {name!r}")
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        self.process.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _postgres_env() -> dict[str, str]:
    return {"PATH": os.defpath, "LANG": "C", "HOME": "/var/lib/postgresql"}


class RedisServer(_Server):
    """redis-server on a loopback port, no RDB snapshots, no AOF. :meth:`stop` it and
    :meth:`start` it again on the same port, as an operator restarting Redis would."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        argv = [
            which("redis-server") or "/usr/bin/redis-server",
            *("--bind", "127.0.0.1", "--port", str(self.port), "--save", ""),
            *("--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no"),
            *("--logfile", "", "--loglevel", "warning"),
        ]
        self.process = ManagedProcess(
            "redis-server", argv, self.workdir / "redis.log", cwd=self.workdir
        )
        self.process.wait_until(self._ping)

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def _toml_str(value: str | Path) -> str:
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _unix_socket_ready(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


class Containerd(_Server):
    """containerd 1.6 with its own root, state, socket and config, used through `ctr`.

    By default the CRI plugin is disabled. With `cri=True` it is enabled with the `native`
    snapshotter and an empty CNI directory in `workdir`: the CRI image service works (use
    `tests.support.cri.CriImageClient(self.socket, log_path=self.log_path)`, as crictl would;
    CRI images live in the `k8s.io` namespace), pod sandboxes do not (no CNI plugins).
    `registry_config_path` sets the CRI registry `config_path` (`certs.d/HOST/hosts.toml`).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        cri: bool = False,
        registry_config_path: Path | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.root = workdir / "root"
        self.state = workdir / "state"
        self._socket_dir: Path | None = None
        socket_path = workdir / "containerd.sock"
        if len(str(socket_path)) + len(".ttrpc") > _MAX_SOCKET_PATH:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="ctrd-"))
            socket_path = self._socket_dir / "containerd.sock"
        self.socket = socket_path
        self.config_path = workdir / "containerd.toml"
        self.config_path.write_text(self._config(cri, registry_config_path))
        self.process = ManagedProcess(
            "containerd",
            [which("containerd") or "/usr/bin/containerd", "--config", str(self.config_path)],
            workdir / "containerd.log",
            cwd=workdir,
        )
        self.process.wait_until(lambda: _unix_socket_ready(self.socket))

    def _config(self, cri: bool, registry_config_path: Path | None) -> str:
        lines = [
            "version = 2",
            f"root = {_toml_str(self.root)}",
            f"state = {_toml_str(self.state)}",
        ]
        if not cri:
            lines.append('disabled_plugins = ["io.containerd.grpc.v1.cri"]')
        lines += [
            "[grpc]",
            f"  address = {_toml_str(self.socket)}",
            "[ttrpc]",
            f"  address = {_toml_str(str(self.socket) + '.ttrpc')}",
            "[debug]",
            '  address = ""',
            '  level = "warn"',
            "[metrics]",
            '  address = ""',
            '[plugins."io.containerd.internal.v1.opt"]',
            f"  path = {_toml_str(self.workdir / 'opt')}",
        ]
        if cri:
            cni = self.workdir / "cni"
            (cni / "bin").mkdir(parents=True, exist_ok=True)
            (cni / "conf").mkdir(parents=True, exist_ok=True)
            lines += [
                '[plugins."io.containerd.grpc.v1.cri"]',
                "  disable_apparmor = true",
                "  disable_cgroup = true",
                "  restrict_oom_score_adj = true",
                '[plugins."io.containerd.grpc.v1.cri".containerd]',
                '  snapshotter = "native"',
                '[plugins."io.containerd.grpc.v1.cri".cni]',
                f"  bin_dir = {_toml_str(cni / 'bin')}",
                f"  conf_dir = {_toml_str(cni / 'conf')}",
            ]
            if registry_config_path is not None:
                lines += [
                    '[plugins."io.containerd.grpc.v1.cri".registry]',
                    f"  config_path = {_toml_str(registry_config_path)}",
                ]
        return "\n".join(lines) + "\n"

    def ctr(
        self, *args: str, check: bool = True, namespace: str = "default", timeout: float = 300.0
    ) -> subprocess.CompletedProcess[str]:
        """Run `ctr -a SOCKET -n NAMESPACE ARGS...`; with `check`, raise ClientError on failure."""
        argv = [which("ctr") or "/usr/bin/ctr", "-a", str(self.socket), "-n", namespace, *args]
        return run_client(argv, check=check, timeout=timeout)

    def pull(
        self,
        ref: str,
        *,
        creds: Creds | None = None,
        plain_http: bool = True,
        all_platforms: bool = False,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """`ctr images pull [--plain-http] [--user u:p] REF` (fetches and unpacks)."""
        args = ["images", "pull"]
        if plain_http:
            args.append("--plain-http")
        if creds is not None:
            args += ["--user", f"{creds[0]}:{creds[1]}"]
        if all_platforms:
            args.append("--all-platforms")
        return self.ctr(*args, ref, check=check)

    def push(
        self,
        ref: str,
        local: str | None = None,
        *,
        creds: Creds | None = None,
        plain_http: bool = True,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """`ctr images push [--plain-http] [--user u:p] REF [LOCAL]`."""
        args = ["images", "push"]
        if plain_http:
            args.append("--plain-http")
        if creds is not None:
            args += ["--user", f"{creds[0]}:{creds[1]}"]
        args.append(ref)
        if local is not None:
            args.append(local)
        return self.ctr(*args, check=check)

    def image_names(self) -> list[str]:
        """Names of the images in the default namespace."""
        return self.ctr("images", "list", "--quiet").stdout.split()

    def stop(self) -> None:
        self.process.stop()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)


def child_pids(pid: int) -> list[int]:
    """Pids of the live children of process `pid` (every thread's), from /proc."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return sorted(set(found))


def command_line(pid: int) -> list[str]:
    """The argv of process `pid` (empty when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def stop_postgres(server: PostgresServer) -> None:
    """Shut `server` down (a fast shutdown) and keep its data for `start_postgres`."""
    server.process.stop()


def start_postgres(server: PostgresServer) -> None:
    """Start a `server` that `stop_postgres` shut down again: same data folder, same port."""
    old = server.process
    server.process = ManagedProcess(
        "postgres",
        old.argv,
        old.log_path,
        cwd=server.workdir,
        user=POSTGRES_OS_USER,
        env=_postgres_env(),
        stop_signal=signal.SIGINT,
    )
    server.process.wait_until(server._ready)
