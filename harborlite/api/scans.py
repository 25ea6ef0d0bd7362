"""Scanning an artifact and scanning all: Harbor's scan API on the background job mechanism.

- ``POST .../artifacts/{reference}/scan`` (optional ``{"scan_type": "vulnerability"}``) answers
  202 and starts a ``SCAN`` job; ``POST .../scan/stop`` stops it (202);
  ``GET .../scan/{report_id}/log`` is its log (text);
- ``GET``/``POST``/``PUT /system/scanAll/schedule`` (``Manual`` runs one now),
  ``POST /system/scanAll/stop``, ``GET /scans/all/metrics``, ``GET /scans/schedule/metrics``.

Scanning takes ``scan create`` in the project (ProjectAdmin, Maintainer), stopping ``scan
stop``, the log ``scan read``; scan all is for system administrators.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harborlite.api.body import json_body
from harborlite.api.call import ApiCall, api_call
from harborlite.api.render import iso
from harborlite.api.scanners import require_admin
from harborlite.db.models import JobSchedule
from harborlite.errors import BadRequest
from harborlite.jobs import operations as jobs
from harborlite.jobs.schedules import cron_of
from harborlite.scanning import operations as scans
from harborlite.scanning.scan_all import SCAN_ALL, metrics, stop_scan_all

ARTIFACT = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"


def _wake(call: ApiCall) -> None:
    if call.services.jobs is not None:
        call.services.jobs.wakeup.set()


async def _optional_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    return await json_body(request)


async def scan_artifact(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.artifact(("scan", "create"))
        body = await _optional_body(request)
        scan_type = body.get("scan_type", "vulnerability")
        if scan_type == "sbom":
            raise BadRequest("scan_type sbom is not supported: harborlite scans vulnerabilities")
        if scan_type != "vulnerability":
            raise BadRequest(f"invalid scan_type {scan_type!r}: vulnerability or sbom")
        reference = request.path_params["reference"]
        await scans.request_scan(
            call.session,
            found.project,
            found.repository.name,
            found.artifact,
            tag=None if reference.startswith("sha256:") else reference,
        )
    _wake(call)
    return Response(status_code=202)


async def stop_scan(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.artifact(("scan", "stop"))
        await scans.stop_scan(call.session, found.artifact, found.repository.name)
    _wake(call)
    return Response(status_code=202)


async def report_log(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.artifact(("scan", "read"))
        text = await scans.report_log(
            call.session, found.artifact, request.path_params["report_id"]
        )
    return PlainTextResponse(text)


def schedule_json(schedule: JobSchedule | None) -> dict[str, Any]:
    """Harbor's ``Schedule``: ``{id, status, creation_time, update_time, schedule: {type, cron,
    next_scheduled_time}}``; no schedule: ``{}`` as Harbor answers."""
    if schedule is None or schedule.schedule_type == "None":
        return {}
    shown: dict[str, Any] = {"type": schedule.schedule_type, "cron": schedule.cron}
    if schedule.next_run is not None:
        shown["next_scheduled_time"] = iso(schedule.next_run)
    return {
        "id": schedule.id,
        "status": "",
        "creation_time": iso(schedule.creation_time),
        "update_time": iso(schedule.update_time),
        "schedule": shown,
    }


async def get_schedule(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "scan-all", "read")
        answer = schedule_json(await jobs.get_schedule(call.session, SCAN_ALL))
    return JSONResponse(answer)


def _schedule_of(body: dict[str, Any]) -> tuple[str, str | None]:
    schedule = body.get("schedule")
    if not isinstance(schedule, dict) or not isinstance(schedule.get("type"), str):
        raise BadRequest("schedule.type is required")
    cron = schedule.get("cron")
    if cron is not None and not isinstance(cron, str):
        raise BadRequest("schedule.cron must be a string")
    kind = schedule["type"]
    return ("Custom" if kind == "Schedule" else kind), cron


async def set_schedule(request: Request) -> Response:
    """POST and PUT: ``Manual`` scans all now (412 while a scan all runs); ``Hourly``,
    ``Daily``, ``Weekly``, ``Custom`` keep a schedule; ``None`` removes it."""
    async with api_call(request) as call:
        require_admin(call, "scan-all", "update")
        body = await json_body(request)
        schedule_type, cron = _schedule_of(body)
        cron_of(schedule_type, cron)  # a bad type or cron: 400 before anything is kept
        if schedule_type == "Manual":
            await jobs.start(call.session, SCAN_ALL, {"trigger": "MANUAL"})
        else:
            await jobs.set_schedule(
                call.session, SCAN_ALL, schedule_type, cron, {"trigger": "SCHEDULE"}
            )
    _wake(call)
    return Response(status_code=201 if request.method == "POST" else 200)


async def stop_all(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "scan-all", "stop")
        await stop_scan_all(call.session)
    _wake(call)
    return Response(status_code=202)


async def all_metrics(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "scan-all", "read")
        answer = await metrics(call.session)
    return JSONResponse(answer)


async def schedule_metrics(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "scan-all", "read")
        answer = await metrics(call.session, scheduled=True)
    return JSONResponse(answer)


ROUTES = [
    Route(ARTIFACT + "/scan", scan_artifact, methods=["POST"]),
    Route(ARTIFACT + "/scan/stop", stop_scan, methods=["POST"]),
    Route(ARTIFACT + "/scan/{report_id}/log", report_log, methods=["GET"]),
    Route("/system/scanAll/schedule", get_schedule, methods=["GET"]),
    Route("/system/scanAll/schedule", set_schedule, methods=["POST", "PUT"]),
    Route("/system/scanAll/stop", stop_all, methods=["POST"]),
    Route("/scans/all/metrics", all_metrics, methods=["GET"]),
    Route("/scans/schedule/metrics", schedule_metrics, methods=["GET"]),
]
