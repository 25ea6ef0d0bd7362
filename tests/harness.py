"""A real ``harborlite serve`` process for tests: its own data folder, port and database."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.processes import free_port, log_tail

ADMIN_PASSWORD = "Harbor12345"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Harborlite:
    """A running harborlite with helpers to drive its REST API as admin."""

    url: str
    host: str
    data_dir: Path
    log_path: Path
    database_url: str
    process: subprocess.Popen[bytes]
    admin_password: str = ADMIN_PASSWORD
    _counter: list[int] = field(default_factory=lambda: [0])
    ca: Path | None = None  # served over HTTPS with a certificate this CA signed

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an httpx client is given to verify this server (True: plain HTTP)."""
        return trusting(self.ca) if self.ca is not None else True

    @property
    def admin(self) -> tuple[str, str]:
        return ("admin", self.admin_password)

    def client(self, auth: tuple[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=auth, timeout=30, verify=self.verify)

    def api(
        self, method: str, path: str, *, auth: tuple[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        with self.client(auth) as client:
            return client.request(method, "/api/v2.0" + path, **kwargs)

    def unique(self, prefix: str) -> str:
        self._counter[0] += 1
        return f"{prefix}{self._counter[0]}-{os.getpid() % 1000}"

    def create_user(self, name: str, password: str = "Passw0rd!x", admin: bool = False) -> int:
        response = self.api(
            "POST",
            "/users",
            auth=self.admin,
            json={
                "username": name,
                "password": password,
                "email": f"{name}@example.com",
                "realname": name,
                "sysadmin_flag": admin,
            },
        )
        assert response.status_code == 201, response.text
        return int(response.headers["Location"].rsplit("/", 1)[1])

    def create_project(self, name: str, public: bool = False) -> int:
        response = self.api(
            "POST",
            "/projects",
            auth=self.admin,
            json={"project_name": name, "metadata": {"public": "true" if public else "false"}},
        )
        assert response.status_code == 201, response.text
        return int(response.headers["Location"].rsplit("/", 1)[1])

    def add_member(self, project: str, username: str, role_id: int) -> None:
        response = self.api(
            "POST",
            f"/projects/{project}/members",
            auth=self.admin,
            json={"role_id": role_id, "member_user": {"username": username}},
        )
        assert response.status_code == 201, response.text

    def token(self, scope: str | list[str] | None, auth: tuple[str, str] | None) -> str:
        params: list[tuple[str, str]] = [("service", "harbor-registry")]
        for value in [scope] if isinstance(scope, str) else scope or []:
            params.append(("scope", value))
        with self.client(auth) as client:
            response = client.get("/service/token", params=params)
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def log(self) -> str:
        return log_tail(self.log_path, 60)

    def registry_url(self) -> str:
        """The embedded registry's own address, to compare harborlite's answers with its."""
        config = yaml.safe_load((self.data_dir / "registry.yml").read_text())
        return f"http://{config['http']['addr']}"

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode or 0)


def trusting(ca: Path) -> ssl.SSLContext:
    """A client context that trusts ``ca`` only (not the system's CAs)."""
    return ssl.create_default_context(cafile=str(ca))


def start_harborlite(
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    data_dir: Path | None = None,
    ca: Path | None = None,
    address: str = "127.0.0.1",
) -> Harborlite:
    """``ca``: the server is given ``HARBORLITE_TLS_CERT``/``_KEY`` in ``extra_env`` and is
    reached over HTTPS, verified against ``ca``; ``address``: where it listens and is reached
    (``HARBORLITE_HOST``)."""
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="harborlite-test-"))
    port = int((extra_env or {}).get("HARBORLITE_PORT") or free_port())
    env = {
        **os.environ,
        "HARBORLITE_DATA_DIR": str(data_dir),
        "HARBORLITE_HOST": address,
        "HARBORLITE_PORT": str(port),
        "HARBORLITE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "HARBORLITE_LOG_LEVEL": "info",
        # every test of a worker logs in from 127.0.0.1: the per-address lockout would lock
        # the shared servers for all; tests of the lockout set their own limits
        "HARBORLITE_LOGIN_MAX_FAILURES_PER_ADDRESS": "100000",
    }
    if database_url:
        env["HARBORLITE_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    log_path = data_dir / "harborlite.log"
    # private, as harborlite makes every file of its data folder (it would tighten it, warning)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(log_fd, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "harborlite", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    shown = f"[{address}]" if ":" in address else address
    server = Harborlite(
        url=f"{'https' if ca else 'http'}://{shown}:{port}",
        host=f"{shown}:{port}",
        data_dir=data_dir,
        log_path=log_path,
        database_url=database_url or "sqlite",
        process=process,
        ca=ca,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"harborlite exited with {process.returncode}:\n{server.log()}")
        try:
            health = httpx.get(f"{server.url}/api/v2.0/health", timeout=2, verify=server.verify)
            if health.status_code == 200 and health.json()["status"] == "healthy":
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"harborlite did not become healthy:\n{server.log()}")


def cleanup(server: Harborlite) -> None:
    server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)


def own_harborlite(**options: Any) -> Iterator[Harborlite]:
    """A server of its own for a fixture (``yield from own_harborlite()``), stopped and its
    data folder removed afterwards; ``options`` go to :func:`start_harborlite`."""
    server = start_harborlite(**options)
    try:
        yield server
    finally:
        cleanup(server)


def screenshot_dir() -> Path:
    """Where the portal tests' screenshots go (``HARBORLITE_SCREENSHOTS`` or test-artifacts)."""
    configured = os.environ.get("HARBORLITE_SCREENSHOTS")
    folder = Path(configured) if configured else ROOT / "test-artifacts" / "screenshots"
    return folder.resolve()
