"""The embedded registry: a supervised ``docker-registry`` child process with a generated config."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
from pathlib import Path

import yaml

from harborlite.settings import Settings
from harborlite.storage.store import StorageError

log = logging.getLogger("harborlite.registry")


def _die_with_parent() -> None:
    """In the registry child, before exec: Linux sends it SIGTERM when harborlite dies, even
    by SIGKILL, so a crashed harborlite never leaves an orphan registry behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the registry outlives a crash
        pass


PR_SET_PDEATHSIG = 1


def free_loopback_port(but: int | None = None) -> int:
    """A loopback port free now, never ``but`` (harborlite's own port, which the kernel may
    hand out while harborlite has not bound it yet: the registry then took it first)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != but:
            return port


# distribution 2.8's S3 driver fails at start when this is set (it replaces the driver's HTTP
# transport); the registry child is started without it
CHILD_ENV_DROPPED = ("AWS_CA_BUNDLE",)


def storage_driver(settings: Settings, storage_root: Path) -> dict[str, object]:
    """The registry's storage driver: its folder, or the S3 bucket (distribution 2.8's ``s3``
    driver; with an endpoint it addresses the bucket path-style, as S3-compatible stores want).
    Without keys the driver uses the AWS credential chain, as boto3 does."""
    if settings.storage != "s3":
        return {"filesystem": {"rootdirectory": str(storage_root)}}
    s3: dict[str, object] = {
        "region": settings.s3_region or "us-east-1",
        "bucket": settings.s3_bucket,
    }
    if settings.s3_endpoint:
        s3["regionendpoint"] = settings.s3_endpoint
    if settings.s3_access_key and settings.s3_secret_key:
        s3["accesskey"] = settings.s3_access_key
        s3["secretkey"] = settings.s3_secret_key.reveal()
    s3["secure"] = not (settings.s3_endpoint or "").startswith("http://")
    s3["v4auth"] = True
    return {"s3": s3}


def registry_config(
    settings: Settings, *, addr: str, storage_root: Path, http_secret: str
) -> dict[str, object]:
    """The registry's configuration: token auth trusting harborlite's certificate.

    With S3 the registry answers a blob GET (after harborlite's checks) with a redirect to a
    presigned URL of the bucket, so blob bytes go from S3 to the client; with a folder
    harborlite serves them from it itself (:mod:`harborlite.v2.blobs`), redirects stay off."""
    return {
        "version": 0.1,
        "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {
            **storage_driver(settings, storage_root),
            "delete": {"enabled": True},
            "maintenance": {
                "uploadpurging": {
                    "enabled": True,
                    "age": f"{settings.upload_purge_hours}h",
                    "interval": "24h",
                    "dryrun": False,
                }
            },
            "redirect": {"disable": settings.storage != "s3"},
        },
        "http": {
            "addr": addr,
            "secret": http_secret,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "auth": {
            "token": {
                "realm": settings.realm,
                "service": settings.token_service,
                "issuer": settings.token_issuer,
                "rootcertbundle": str(settings.cert_path),
            }
        },
    }


def child_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CHILD_ENV_DROPPED}


async def check_storage(settings: Settings) -> None:
    """Fail the start with a clear message when the S3 bucket cannot be reached (a wrong bucket
    name, endpoint, region or keys), instead of a registry failing every push later."""
    if settings.storage != "s3":
        return
    from harborlite.storage.s3 import S3Storage  # boto3 only where S3 is used

    try:
        await asyncio.to_thread(S3Storage.from_settings(settings).check)
    except StorageError as error:
        raise RuntimeError(f"the registry's storage is not usable: {error}") from None


class RegistrySupervisor:
    """Starts the registry, restarts it when it dies, and says whether it is up."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.settings = settings
        self.port = port or free_loopback_port(but=settings.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.storage_root = settings.registry_storage_dir
        self.config_path = settings.data_dir / "registry.yml"
        self.log_path = settings.data_dir / "registry.log"
        self.healthy = False
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def write_config(self) -> None:
        secret_path = self.settings.data_dir / "registry-http-secret"
        if not secret_path.exists():
            secret_path.write_text(secrets.token_hex(32))
            secret_path.chmod(0o600)
        if self.settings.storage == "filesystem":
            self.storage_root.mkdir(parents=True, exist_ok=True)
        config = registry_config(
            self.settings,
            addr=f"127.0.0.1:{self.port}",
            storage_root=self.storage_root,
            http_secret=secret_path.read_text().strip(),
        )
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.config_path.chmod(0o600)

    async def start(self) -> None:
        await check_storage(self.settings)
        self.write_config()
        await self._spawn()
        await self.wait_ready(timeout=20)
        self._task = asyncio.create_task(self._watch(), name="registry-supervisor")

    async def _spawn(self) -> None:
        binary = self.settings.registry_binary
        if not Path(binary).exists():
            raise RuntimeError(
                f"registry binary {binary} not found: install Debian's docker-registry package "
                "or set HARBORLITE_REGISTRY_BINARY (or HARBORLITE_REGISTRY_URL)"
            )
        handle = self.log_path.open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                binary,
                "serve",
                str(self.config_path),
                stdout=handle,
                stderr=handle,
                stdin=asyncio.subprocess.DEVNULL,
                env=child_environment(),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            handle.close()
        log.info("registry started (pid %s) on %s", self._process.pid, self.url)

    async def probe(self) -> bool:
        """True when the registry answers ``/v2/`` (with its 401 challenge)."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port), timeout=2
            )
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), timeout=2)
            return line.startswith(b"HTTP/1.1 401") or line.startswith(b"HTTP/1.1 200")
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def wait_ready(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self._process is not None and self._process.returncode is not None:
                break
            if await self.probe():
                self.healthy = True
                return
            await asyncio.sleep(0.05)
        tail = self._log_tail()
        raise RuntimeError(f"the registry did not start; its log ends with:\n{tail}")

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-15:])
        except OSError:
            return "(no log)"

    async def _watch(self) -> None:
        backoff = 0.5
        while not self._stopping:
            assert self._process is not None
            code = await self._process.wait()
            if self._stopping:
                return
            self.healthy = False
            log.error(
                "registry exited with code %s; restarting in %.1fs. Log tail:\n%s",
                code,
                backoff,
                self._log_tail(),
            )
            await asyncio.sleep(backoff)
            try:
                await self._spawn()
                await self.wait_ready(timeout=20)
                self.restarts += 1
                log.warning("registry is back (restart %d)", self.restarts)
                backoff = 0.5
            except Exception:
                log.exception("registry restart failed")
                backoff = min(backoff * 2, 10.0)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        self.healthy = False
        log.debug("registry stopped")  # `harborlite serve` says "harborlite stopped"
