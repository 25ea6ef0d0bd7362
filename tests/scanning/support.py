"""What the scanning tests share: the adapter process, images with a dpkg package list, and
waiting for a scan to end."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.api.pushing import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Pushed, Pusher, digest_of
from tests.harness import ROOT, Harborlite
from tests.support.processes import free_port

REPORT_MIME = "application/vnd.security.vulnerability.report; version=1.1"

# the fixture vulnerability database: package@version -> CVEs
FIXTURE_DB: dict[str, Any] = {
    "packages": {
        "openssl@1.1.1n-0+deb11u3": [
            {"id": "CVE-2023-0286", "severity": "High", "fix_version": "1.1.1n-0+deb11u4"},
            {"id": "CVE-2023-0215", "severity": "Medium", "fix_version": "1.1.1n-0+deb11u4"},
        ],
        "zlib1g@1:1.2.11.dfsg-2": [{"id": "CVE-2018-25032", "severity": "Critical"}],
        "bash@5.1-2": [{"id": "CVE-2022-3715", "severity": "Low", "fix_version": "5.1-2+deb11u1"}],
    }
}
VULNERABLE = [
    ("openssl", "1.1.1n-0+deb11u3"),
    ("zlib1g", "1:1.2.11.dfsg-2"),
    ("coreutils", "8.32-4"),
]
CLEAN = [("coreutils", "8.32-4"), ("bash", "5.2-1")]


@dataclass
class AdapterProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def requests(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/debug/requests", timeout=5)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def start_adapter(*options: str, db: dict[str, Any] | None = None) -> AdapterProcess:
    folder = Path(tempfile.mkdtemp(prefix="scan-adapter-"))
    db_path = folder / "fixture.json"
    db_path.write_text(json.dumps(db or FIXTURE_DB))
    port = free_port()
    log_path = folder / "adapter.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.scanning.adapter",
                "--port",
                str(port),
                "--db",
                str(db_path),
                *options,
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    adapter = AdapterProcess(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the adapter exited: {adapter.log()}")
        try:
            httpx.get(f"{adapter.url}/debug/requests", timeout=1)
            return adapter
        except httpx.HTTPError:
            time.sleep(0.1)
    adapter.stop()
    raise RuntimeError(f"the adapter did not start: {adapter.log()}")


@contextmanager
def running_adapter(*options: str) -> Iterator[AdapterProcess]:
    adapter = start_adapter(*options)
    try:
        yield adapter
    finally:
        adapter.stop()


def dpkg_status(packages: list[tuple[str, str]]) -> bytes:
    stanzas = [
        f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"
        for name, version in packages
    ]
    return "\n".join(stanzas).encode()


def _layer(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def push_packages(
    pusher: Pusher,
    repository: str,
    tag: str | None,
    packages: list[tuple[str, str]],
    seed: str = "",
) -> Pushed:
    """An image whose second layer holds ``var/lib/dpkg/status`` listing ``packages``."""
    headers = pusher._headers(repository)
    base = _layer({"etc/os-release": f"ID=debian\nSEED={repository} {tag} {seed}\n".encode()})
    dpkg = _layer({"var/lib/dpkg/status": dpkg_status(packages)})
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": [digest_of(gzip.decompress(x)) for x in (base, dpkg)],
            },
        }
    ).encode()
    pusher.blob(repository, config, headers)
    for layer in (base, dpkg):
        pusher.blob(repository, layer, headers)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": digest_of(x), "size": len(x)}
                for x in (base, dpkg)
            ],
        }
    ).encode()
    digest = digest_of(manifest)
    pusher.manifest(repository, tag or digest, manifest, OCI_MANIFEST, headers)
    return Pushed(repository, tag or digest, digest, manifest, len(manifest))


def register(server: Harborlite, adapter_url: str, name: str, **extra: Any) -> str:
    """Register an adapter; its registration id."""
    response = server.api(
        "POST", "/scanners", auth=server.admin, json={"name": name, "url": adapter_url, **extra}
    )
    assert response.status_code == 201, response.text
    return str(response.headers["Location"].rsplit("/", 1)[1])


def use_scanner(server: Harborlite, project: str, registration_id: str) -> None:
    response = server.api(
        "PUT", f"/projects/{project}/scanner", auth=server.admin, json={"uuid": registration_id}
    )
    assert response.status_code == 200, response.text


def artifact_path(pushed: Pushed) -> str:
    project, short = pushed.repository.split("/", 1)
    encoded = short.replace("/", "%252F")
    return f"/projects/{project}/repositories/{encoded}/artifacts/{pushed.digest}"


def overview(server: Harborlite, pushed: Pushed) -> dict[str, Any]:
    response = server.api(
        "GET",
        artifact_path(pushed),
        auth=server.admin,
        params={"with_scan_overview": "true"},
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["scan_overview"]
    return found


def wait_for_scan(server: Harborlite, pushed: Pushed, timeout: float = 40) -> dict[str, Any]:
    """The overview once the scan has ended (anything but Pending and Running)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = overview(server, pushed).get(REPORT_MIME) or {}
        if seen.get("scan_status") not in (None, "Pending", "Running"):
            return seen
        time.sleep(0.3)
    raise AssertionError(f"the scan did not end in {timeout} s: {seen}\n{server.log()}")


def scan_log(server: Harborlite, pushed: Pushed, report_id: str) -> str:
    response = server.api("GET", f"{artifact_path(pushed)}/scan/{report_id}/log", auth=server.admin)
    assert response.status_code == 200, response.text
    return response.text
