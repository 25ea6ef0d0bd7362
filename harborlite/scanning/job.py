"""The ``SCAN`` job: ask the scanner adapter to scan each target digest and keep its report.

For each target: the adapter's metadata (its name, vendor and version go into the report,
and it must consume the manifest's media type), ``POST /api/v1/scan`` with a pull token for
that one repository (:mod:`.credentials`), then ``GET /api/v1/scan/{id}/report`` with the
report mime type's ``Accept``, first after :data:`FIRST_POLL` seconds, then after each
``302``'s ``Refresh-After``, until a ``200`` or a failure, at most
``settings.scan_timeout_seconds`` in all. Every step goes to the report's log (read with
``GET .../scan/{report_id}/log``) and the execution's.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from harborlite.auth.tokens import TokenSigner
from harborlite.db.models import utcnow
from harborlite.jobs.operations import ERROR, RUNNING, SUCCESS
from harborlite.jobs.runner import JobContext, JobStopped
from harborlite.scanning import adapter
from harborlite.scanning.adapter import AdapterError, AdapterUnreachable, Endpoint
from harborlite.scanning.credentials import scanner_token
from harborlite.scanning.models import Scanner, ScanReport
from harborlite.scanning.operations import mark_stopped
from harborlite.scanning.queries import VULNERABILITY_REPORT, overview_of
from harborlite.scanning.registrations import endpoint_of
from harborlite.sealing import SealedSecretError
from harborlite.webhooks.enqueue import host_of, queue_event, scanning_event
from harborlite.webhooks.events import SCANNING_COMPLETED, SCANNING_FAILED, SCANNING_STOPPED

FIRST_POLL = 1.0  # seconds before the first look at the report (Harbor waits 2)
DEFAULT_REFRESH = 5.0  # when a 302 names no Refresh-After
UNREACHABLE_TRIES = 3  # polls in a row that may fail to reach the adapter


class ScanFailed(Exception):
    """Some target's scan ended in Error; the message names how many."""


class Scan:
    """One run of the SCAN job."""

    def __init__(
        self,
        context: JobContext,
        signer: TokenSigner,
        *,
        registry_url: str,
        internal_url: str,
        data_dir: Path,
        timeout: float,
    ) -> None:
        self.context = context
        self.signer = signer
        self.registry_url = registry_url
        self.internal_url = internal_url
        self.data_dir = data_dir
        self.timeout = timeout

    async def _report(self, report_id: str) -> ScanReport | None:
        async with self.context.sessions() as session:
            found = await session.execute(select(ScanReport).where(ScanReport.uuid == report_id))
            return found.scalar()

    async def _update(self, report_id: str, line: str, **values: Any) -> None:
        """Change the report (if still this scan's) and log ``line`` to both logs."""
        self.context.log(line)
        async with self.context.sessions() as session:
            found = await session.execute(select(ScanReport).where(ScanReport.uuid == report_id))
            row = found.scalar()
            if row is None:
                return
            for key, value in values.items():
                setattr(row, key, value)
            row.log += f"{utcnow():%Y-%m-%dT%H:%M:%SZ} {line}\n"
            await session.commit()

    async def _pause(self, seconds: float) -> None:
        """Wait, stopping early when asked to stop."""
        end = time.monotonic() + seconds
        while True:
            self.context.check()
            left = end - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(0.25, left))

    async def run(self) -> None:
        parameters = self.context.parameters
        repository = str(parameters["repository"])
        targets = list(parameters.get("targets") or [])
        failed = 0
        for number, target in enumerate(targets):
            self.context.check()
            report_id = str(target["report_id"])
            row = await self._report(report_id)
            if row is None:  # a newer scan replaced this one
                self.context.log(f"{target['digest']}: replaced by a newer scan, skipped")
                continue
            try:
                ok = await self._scan_one(repository, target)
            except JobStopped:
                async with self.context.sessions() as session:
                    found = await session.execute(
                        select(ScanReport).where(
                            ScanReport.uuid.in_([str(t["report_id"]) for t in targets[number:]])
                        )
                    )
                    for stopped in found.scalars().all():
                        if stopped.status in ("Pending", RUNNING):
                            mark_stopped(stopped, "stopped on request")
                    await session.commit()
                await self._announce(repository, target, SCANNING_STOPPED)
                raise
            await self._announce(repository, target, SCANNING_COMPLETED if ok else SCANNING_FAILED)
            failed += 0 if ok else 1
            self.context.progress = 100 * (number + 1) // max(1, len(targets))
        if failed:
            raise ScanFailed(f"{failed} of {len(targets)} scans failed (see the report logs)")

    async def _announce(self, repository: str, target: dict[str, Any], kind: str) -> None:
        """The scan's end, told to the project's webhooks (Harbor's SCANNING_* events, with
        the artifact's scan overview); telling them never changes the scan's outcome."""
        digest = str(target["digest"])
        tag = str(self.context.parameters.get("tag") or "") or None
        try:
            async with self.context.sessions() as session:
                overview = await overview_of(session, digest)
                shown = {VULNERABILITY_REPORT: overview.as_harbor()} if overview else {}
                event = scanning_event(
                    kind, repository.split("/")[0], repository, digest, tag, "system", shown
                )
                if await queue_event(session, host_of(self.registry_url), event):
                    await session.commit()
        except Exception as error:  # a webhook table unreachable: the scan stands
            self.context.log(f"{digest}: the {kind} webhook event was not queued: {error!r}")

    async def _scanner(self) -> tuple[Scanner | None, Endpoint | None, str]:
        async with self.context.sessions() as session:
            found = await session.execute(
                select(Scanner).where(Scanner.uuid == str(self.context.parameters["scanner"]))
            )
            scanner = found.scalar()
            if scanner is None:
                return None, None, "the scanner registration was deleted"
            try:
                return scanner, endpoint_of(self.data_dir, scanner), ""
            except SealedSecretError as error:
                return scanner, None, str(error)

    async def _scan_one(self, repository: str, target: dict[str, Any]) -> bool:
        report_id, digest = str(target["report_id"]), str(target["digest"])
        scanner, endpoint, why = await self._scanner()
        if scanner is None or endpoint is None:
            await self._fail(report_id, f"{digest}: {why}")
            return False
        await self._update(
            report_id,
            f"{digest}: scanning with {scanner.name} at {scanner.url}",
            status=RUNNING,
            start_time=utcnow(),
        )
        deadline = time.monotonic() + self.timeout
        try:
            meta = await adapter.metadata(endpoint)
            consumed = _consumed(meta)
            mime_type = str(target["mime_type"])
            if consumed and mime_type not in consumed:
                raise AdapterError(f"the scanner does not scan {mime_type} artifacts")
            info = meta.get("scanner") or {}
            shown = {k: str(info.get(k, "")) for k in ("name", "vendor", "version")}
            token = scanner_token(self.signer, scanner.name, repository, int(self.timeout) + 300)
            request = {
                "registry": {
                    "url": self.internal_url if scanner.use_internal_addr else self.registry_url,
                    "authorization": f"Bearer {token}",
                },
                "artifact": {
                    "repository": repository,
                    "digest": digest,
                    "tag": str(self.context.parameters.get("tag") or ""),
                    "mime_type": mime_type,
                },
                "enabled_capabilities": [
                    {"type": "vulnerability", "produces_mime_types": [VULNERABILITY_REPORT]}
                ],
            }
            request_id = await asyncio.wait_for(
                adapter.submit(endpoint, request), max(1.0, deadline - time.monotonic())
            )
            await self._update(
                report_id,
                f"{digest}: accepted by {shown['name']} {shown['version']} as {request_id}",
                scanner=shown,
                request_id=request_id,
            )
            report = await self._poll(endpoint, request_id, deadline)
        except TimeoutError:
            await self._fail(
                report_id,
                f"{digest}: no report within {int(self.timeout)} s (the scan time limit): "
                "the scan timed out",
            )
            return False
        except AdapterError as error:
            await self._fail(report_id, f"{digest}: {error}")
            return False
        vulnerabilities = report.get("vulnerabilities")
        if vulnerabilities is not None and not isinstance(vulnerabilities, list):
            await self._fail(report_id, f"{digest}: the report's vulnerabilities are not a list")
            return False
        count = len(vulnerabilities or [])
        await self._update(
            report_id,
            f"{digest}: report received, {count} vulnerabilities",
            status=SUCCESS,
            report=report,
            end_time=utcnow(),
        )
        return True

    async def _fail(self, report_id: str, line: str) -> None:
        await self._update(report_id, line, status=ERROR, end_time=utcnow())

    async def _poll(self, endpoint: Endpoint, request_id: str, deadline: float) -> dict[str, Any]:
        wait = FIRST_POLL
        unreachable = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            await self._pause(min(wait, left))
            if deadline - time.monotonic() <= 0:
                raise TimeoutError
            try:
                answer = await asyncio.wait_for(
                    adapter.report(endpoint, request_id, VULNERABILITY_REPORT),
                    max(0.5, deadline - time.monotonic()),
                )
            except AdapterUnreachable as error:
                unreachable += 1
                if unreachable >= UNREACHABLE_TRIES:
                    raise AdapterError(
                        f"{error} ({unreachable} tries): the adapter stopped answering mid-scan"
                    ) from None
                self.context.log(f"{error}: trying again")
                wait = 1.0
                continue
            unreachable = 0
            if answer.report is not None:
                return answer.report
            wait = DEFAULT_REFRESH if answer.refresh_after is None else answer.refresh_after


def _consumed(meta: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for capability in meta.get("capabilities") or []:
        if isinstance(capability, dict) and capability.get("type", "vulnerability") in (
            "vulnerability",
            None,
        ):
            found.update(str(m) for m in capability.get("consumes_mime_types") or [])
    return found


async def run_scan(
    context: JobContext,
    signer: TokenSigner,
    *,
    registry_url: str,
    internal_url: str,
    data_dir: Path,
    timeout: float,
) -> None:
    """``registry_url``: where the adapter pulls from (harborlite's external URL);
    ``internal_url`` for a registration with ``use_internal_addr``."""
    await Scan(
        context,
        signer,
        registry_url=registry_url,
        internal_url=internal_url,
        data_dir=data_dir,
        timeout=timeout,
    ).run()
