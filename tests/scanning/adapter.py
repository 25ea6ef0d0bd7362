"""A scanner adapter for the tests: a real process speaking the Harbor Scanner Adapter API v1.1.

``python -m tests.scanning.adapter --port N --db fixture.json [--slow S] [--fail] [--crash]
[--api-key KEY]``

- ``GET /api/v1/metadata``: the scanner (``TestScanner``), consuming OCI and Docker v2 image
  manifests, producing ``application/vnd.security.vulnerability.report; version=1.1``;
- ``POST /api/v1/scan``: 400 for bad JSON, 422 for a missing field, else 202 ``{"id"}``; the
  scan really pulls the image from ``registry.url`` with ``registry.authorization`` (the
  manifest, then every layer), reads ``var/lib/dpkg/status`` stanzas from the layer tars and
  maps ``package@version`` to CVEs with the fixture (``{"packages": {"pkg@ver": [{"id",
  "severity", "fix_version", ...}]}}``);
- ``GET /api/v1/scan/{id}/report``: ``302`` + ``Refresh-After: 1`` while the scan runs (at
  least ``--slow`` seconds), ``200`` with the report, ``500`` ``{"error": {"message"}}`` when
  it failed (a pull refused, or ``--fail``), 404 for an unknown id;
- ``--crash``: the process exits (status 3) once a scan was accepted and its pull began;
- ``GET /debug/requests``: the scan requests received (tests check the credential given).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import os
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

REPORT_MIME = "application/vnd.security.vulnerability.report; version=1.1"
CONSUMED = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
]
MANIFEST_ACCEPT = ", ".join(CONSUMED)
SCANNER = {"name": "TestScanner", "vendor": "harborlite tests", "version": "1.2.3"}


@dataclass
class Job:
    request: dict[str, Any]
    ready_at: float
    report: dict[str, Any] | None = None
    error: str | None = None
    done: bool = False
    pulled: list[str] = field(default_factory=list)


def packages_of(layer: bytes) -> list[tuple[str, str]]:
    """``(package, version)`` of the dpkg status file in a (gzipped) layer tar."""
    try:
        raw = gzip.decompress(layer)
    except OSError:
        raw = layer
    found: list[tuple[str, str]] = []
    try:
        archive = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    except tarfile.TarError:
        return found
    with archive:
        for member in archive.getmembers():
            if member.name.lstrip("./") != "var/lib/dpkg/status" or not member.isfile():
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            for stanza in handle.read().decode("utf-8", "replace").split("\n\n"):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.startswith(" "):
                        key, value = line.split(":", 1)
                        fields[key.strip()] = value.strip()
                if "Package" in fields and "Version" in fields:
                    found.append((fields["Package"], fields["Version"]))
    return found


class Adapter:
    def __init__(self, db: dict[str, Any], *, slow: float, fail: bool, crash: bool, key: str):
        self.db = db.get("packages", {})
        self.slow = slow
        self.fail = fail
        self.crash = crash
        self.key = key
        self.jobs: dict[str, Job] = {}
        self.requests: list[dict[str, Any]] = []

    def _authorized(self, request: web.Request) -> bool:
        return not self.key or request.headers.get("X-ScannerAdapter-API-Key") == self.key

    def _refused(self) -> web.Response:
        return web.json_response({"error": {"message": "invalid API key"}}, status=401)

    async def metadata(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._refused()
        body = {
            "scanner": SCANNER,
            "capabilities": [
                {
                    "type": "vulnerability",
                    "consumes_mime_types": CONSUMED,
                    "produces_mime_types": [REPORT_MIME],
                }
            ],
            "properties": {
                "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
                "harbor.scanner-adapter/vulnerability-database-updated-at": "2026-01-01T00:00:00Z",
            },
        }
        return web.json_response(body, content_type="application/vnd.scanner.adapter.metadata+json")

    async def scan(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._refused()
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"error": {"message": "invalid JSON"}}, status=400)
        try:
            registry = body["registry"]
            artifact = body["artifact"]
            for key in ("repository", "digest", "mime_type"):
                if not isinstance(artifact[key], str) or not artifact[key]:
                    raise KeyError(key)
            if not isinstance(registry["url"], str):
                raise KeyError("url")
        except (KeyError, TypeError) as missing:
            return web.json_response({"error": {"message": f"missing field {missing}"}}, status=422)
        self.requests.append(body)
        scan_id = str(uuid.uuid4())
        job = Job(body, time.monotonic() + self.slow)
        self.jobs[scan_id] = job
        asyncio.get_running_loop().create_task(self._run(job))
        return web.json_response(
            {"id": scan_id},
            status=202,
            content_type="application/vnd.scanner.adapter.scan.response+json",
        )

    async def _run(self, job: Job) -> None:
        try:
            job.report = await self._scan(job)
        except Exception as error:  # the report says why
            job.error = str(error) or type(error).__name__
        job.done = True

    async def _scan(self, job: Job) -> dict[str, Any]:
        registry, artifact = job.request["registry"], job.request["artifact"]
        base = registry["url"].rstrip("/")
        headers = {}
        if registry.get("authorization"):
            headers["Authorization"] = registry["authorization"]
        name, digest = artifact["repository"], artifact["digest"]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            url = f"{base}/v2/{name}/manifests/{digest}"
            async with session.get(url, headers={**headers, "Accept": MANIFEST_ACCEPT}) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"pull of {name}@{digest} refused: {response.status}")
            job.pulled.append(digest)
            if self.crash:
                os._exit(3)
            manifest = json.loads(body)
            found: list[tuple[str, str]] = []
            for layer in manifest.get("layers") or []:
                async with session.get(
                    f"{base}/v2/{name}/blobs/{layer['digest']}", headers=headers
                ) as response:
                    data = await response.read()
                    if response.status != 200:
                        raise RuntimeError(
                            f"pull of layer {layer['digest']} refused: {response.status}"
                        )
                job.pulled.append(layer["digest"])
                found.extend(packages_of(data))
        if self.fail:
            raise RuntimeError("the vulnerability database is corrupt (--fail)")
        vulnerabilities: list[dict[str, Any]] = []
        for package, version in found:
            for entry in self.db.get(f"{package}@{version}", []):
                vulnerabilities.append(
                    {
                        "id": entry["id"],
                        "package": package,
                        "version": version,
                        "fix_version": entry.get("fix_version", ""),
                        "severity": entry.get("severity", "Unknown"),
                        "description": entry.get("description", ""),
                        "links": [f"https://avd.example/{entry['id']}"],
                    }
                )
        order = ["Unknown", "Negligible", "Low", "Medium", "High", "Critical"]
        worst = max(
            (v["severity"] for v in vulnerabilities),
            key=lambda s: order.index(s) if s in order else 0,
            default="None",
        )
        return {
            "generated_at": datetime.now(UTC).isoformat(),
            "artifact": artifact,
            "scanner": SCANNER,
            "severity": worst,
            "vulnerabilities": vulnerabilities,
        }

    async def report(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._refused()
        job = self.jobs.get(request.match_info["scan_id"])
        if job is None:
            return web.json_response({"error": {"message": "unknown scan request"}}, status=404)
        if request.headers.get("Accept", "") != REPORT_MIME:
            return web.json_response({"error": {"message": "unsupported mime type"}}, status=422)
        if not job.done or time.monotonic() < job.ready_at:
            return web.Response(status=302, headers={"Refresh-After": "1"})
        if job.error is not None:
            return web.json_response({"error": {"message": job.error}}, status=500)
        return web.json_response(
            job.report, content_type="application/vnd.security.vulnerability.report"
        )

    async def debug(self, request: web.Request) -> web.Response:
        return web.json_response(self.requests)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--fail", action="store_true")
    parser.add_argument("--crash", action="store_true")
    parser.add_argument("--api-key", default="")
    args = parser.parse_args()
    with open(args.db) as handle:
        db = json.load(handle)
    adapter = Adapter(db, slow=args.slow, fail=args.fail, crash=args.crash, key=args.api_key)
    app = web.Application()
    app.router.add_get("/api/v1/metadata", adapter.metadata)
    app.router.add_post("/api/v1/scan", adapter.scan)
    app.router.add_get("/api/v1/scan/{scan_id}/report", adapter.report)
    app.router.add_get("/debug/requests", adapter.debug)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
