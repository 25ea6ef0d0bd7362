"""``/system/gc``: Harbor's garbage collection API, on the background job mechanism.

``POST /system/gc/schedule`` with ``{"schedule": {"type": "Manual"}}`` runs one now (201,
``Location: /api/v2.0/system/gc/ID``); ``Hourly``, ``Daily``, ``Weekly``, ``Custom`` (with a
6-field ``cron``) schedule it, ``None`` removes the schedule. Parameters: ``delete_untagged``
(default true), ``dry_run`` (default false), ``workers`` 1 to 10 (400 "Invalid number of
workers" otherwise). System administrators only.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harborlite.api.body import json_body, path_int
from harborlite.api.call import ApiCall, api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.render import iso
from harborlite.db.models import JobExecution, JobSchedule
from harborlite.errors import BadRequest, PreconditionFailed
from harborlite.gc.job import GC
from harborlite.gc.storage import writable
from harborlite.jobs import operations as jobs
from harborlite.jobs.schedules import cron_of

DEFAULTS: dict[str, Any] = {"delete_untagged": True, "dry_run": False, "workers": 1}


def _schedule_json(schedule: JobSchedule | None) -> dict[str, Any]:
    if schedule is None:
        return {"type": "None", "cron": ""}
    shown: dict[str, Any] = {"type": schedule.schedule_type, "cron": schedule.cron}
    if schedule.next_run is not None:
        shown["next_scheduled_time"] = iso(schedule.next_run)
    return shown


def history_json(execution: JobExecution, schedule: JobSchedule | None = None) -> dict[str, Any]:
    parameters = {**DEFAULTS, **execution.parameters}
    return {
        "id": execution.id,
        "job_name": "GARBAGE_COLLECTION",
        "job_kind": execution.trigger,
        "job_parameters": json.dumps(parameters),
        "schedule": _schedule_json(schedule)
        if execution.trigger == "SCHEDULE"
        else {"type": "Manual", "cron": ""},
        "job_status": execution.status,
        "deleted": False,
        "creation_time": iso(execution.creation_time),
        "update_time": iso(execution.update_time),
    }


def _parameters(body: dict[str, Any]) -> dict[str, Any]:
    given = body.get("parameters")
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise BadRequest("parameters must be an object")
    parameters = dict(DEFAULTS)
    for key in ("delete_untagged", "dry_run", "delete_tag"):
        if key in given:
            if not isinstance(given[key], bool):
                raise BadRequest(f"parameters.{key} must be true or false")
            parameters[key] = given[key]
    if "workers" in given:
        workers = given["workers"]
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 10:
            raise BadRequest("Invalid number of workers")
        parameters["workers"] = workers
    return parameters


def _schedule_of(body: dict[str, Any]) -> tuple[str, str | None]:
    schedule = body.get("schedule")
    if not isinstance(schedule, dict) or not isinstance(schedule.get("type"), str):
        raise BadRequest("schedule.type is required")
    cron = schedule.get("cron")
    if cron is not None and not isinstance(cron, str):
        raise BadRequest("schedule.cron must be a string")
    kind = schedule["type"]
    return ("Custom" if kind == "Schedule" else kind), cron


def _require_storage(call: ApiCall) -> None:
    if not writable(call.services.storage):
        raise PreconditionFailed(
            "garbage collection needs write access to the registry's storage: with an "
            "external registry, set HARBORLITE_REGISTRY_STORAGE to its storage on a writable "
            "mount"
        )


async def history(request: Request) -> Response:
    page = page_of(request)
    async with api_call(request) as call:
        call.require_system("garbage-collection", "read")
        rows, total = await jobs.list_executions(
            call.session, GC, offset=page.offset, limit=page.size
        )
        schedule = await jobs.get_schedule(call.session, GC)
        items = [history_json(row, schedule) for row in rows]
    return paged_response(request, items, total, page)


async def one(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_system("garbage-collection", "read")
        execution = await jobs.get_execution(call.session, path_int(request, "gc_id"), GC)
        answer = history_json(execution, await jobs.get_schedule(call.session, GC))
    return JSONResponse(answer)


async def stop(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_system("garbage-collection", "stop")
        execution = await jobs.get_execution(call.session, path_int(request, "gc_id"), GC)
        await jobs.stop(call.session, execution)
    return Response(status_code=200)


async def log(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_system("garbage-collection", "read")
        execution = await jobs.get_execution(call.session, path_int(request, "gc_id"), GC)
        text = execution.log
    return PlainTextResponse(text)


def schedule_json(schedule: JobSchedule | None) -> dict[str, Any]:
    """The schedule as Harbor answers it: a ``GCHistory`` (handler/model/gc.go GCSchedule),
    its parameters a JSON string in ``job_parameters``, ``job_kind`` the cron."""
    answer: dict[str, Any] = {"schedule": _schedule_json(schedule)}
    if schedule is not None:
        answer.update(
            id=schedule.id,
            job_name="",
            job_kind=schedule.cron,
            job_parameters=json.dumps({**DEFAULTS, **schedule.parameters}),
            job_status="",
            deleted=False,
            creation_time=iso(schedule.creation_time),
            update_time=iso(schedule.update_time),
        )
    return answer


async def get_schedule(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_system("garbage-collection", "read")
        answer = schedule_json(await jobs.get_schedule(call.session, GC))
    return JSONResponse(answer)


async def set_schedule(request: Request) -> Response:
    """POST (create) and PUT (update): ``Manual`` runs now; the others keep a schedule, ``None``
    removes it. Who may comes first (401, 403), then the body (400), then the storage (412).
    A run started by PUT answers 200 as Harbor's update does (with the Location too)."""
    async with api_call(request) as call:
        call.require_system("garbage-collection", "create")
        body = await json_body(request)
        schedule_type, cron = _schedule_of(body)
        cron_of(schedule_type, cron)  # a bad type or cron: 400 before anything is kept
        parameters = _parameters(body)
        if schedule_type != "None":  # removing a schedule needs no storage
            _require_storage(call)
        if schedule_type == "Manual":
            execution = await jobs.start(call.session, GC, parameters)
            execution_id = execution.id
        else:
            await jobs.set_schedule(call.session, GC, schedule_type, cron, parameters)
            execution_id = None
    if call.services.jobs is not None:
        call.services.jobs.wakeup.set()
    status = 201 if request.method == "POST" else 200
    if execution_id is not None:
        return Response(
            status_code=status, headers={"Location": f"/api/v2.0/system/gc/{execution_id}"}
        )
    return Response(status_code=status)


ROUTES = [
    Route("/system/gc", history, methods=["GET"]),
    Route("/system/gc/schedule", get_schedule, methods=["GET"]),
    Route("/system/gc/schedule", set_schedule, methods=["POST", "PUT"]),
    Route("/system/gc/{gc_id}", one, methods=["GET"]),
    Route("/system/gc/{gc_id}", stop, methods=["PUT"]),
    Route("/system/gc/{gc_id}/log", log, methods=["GET"]),
]
