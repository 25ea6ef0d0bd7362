"""``/retentions``: Harbor's tag retention API, on the background job mechanism.

One policy per project (``POST`` a second one: 400 "project N already has retention policy M";
the project's metadata ``retention_id`` names it), at most 15 rules (400), two identical rules
409. Runs: ``POST /retentions/{id}/executions`` with ``{"dry_run": bool}`` (201, Location), their
list (paged, newest first), ``PATCH`` with ``{"action": "stop"}``, their tasks (one per
repository) and each task's log (text/plain). Everything needs a signed-in caller (401) with
``tag-retention`` rights in the policy's project (ProjectAdmin, Maintainer, Developer; 403).
A policy id that does not exist is 404.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harborlite.api.body import json_body, path_int
from harborlite.api.call import ApiCall, api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.render import iso
from harborlite.auth.permissions import Action
from harborlite.db.models import JobExecution
from harborlite.errors import BadRequest, NotFound
from harborlite.jobs.operations import PENDING, RUNNING
from harborlite.retention import operations
from harborlite.retention.models import RetentionPolicy
from harborlite.retention.operations import Task
from harborlite.retention.policy import metadata, parse_policy, policy_json

# Harbor's jobservice status codes: Pending 0, Running 2, every final status 3
_STATUS_CODES = {PENDING: 0, RUNNING: 2}


def execution_json(execution: JobExecution) -> dict[str, Any]:
    """Harbor's ``RetentionExecution``."""
    return {
        "id": execution.id,
        "policy_id": operations.policy_id_of(execution),
        "start_time": iso(execution.start_time) or "",
        "end_time": iso(execution.end_time) or "",
        "status": execution.status,
        "trigger": execution.trigger,
        "dry_run": operations.dry_run_of(execution),
    }


def task_json(task: Task) -> dict[str, Any]:
    """Harbor's ``RetentionExecutionTask``."""
    return {
        "id": task.id,
        "execution_id": task.execution_id,
        "repository": task.repository,
        "job_id": f"retention-{task.execution_id}-{task.id}",
        "status": task.status,
        "status_code": _STATUS_CODES.get(task.status, 3),
        "status_revision": 0,
        "start_time": iso(task.start_time) or "",
        "end_time": iso(task.end_time) or "",
        "total": task.total,
        "retained": task.retained,
    }


async def _policy(call: ApiCall, action: Action) -> RetentionPolicy:
    """The policy of the path, when the caller has ``tag-retention`` ``action`` in its
    project (401 anonymous, 404 no such policy, 403 no right)."""
    call.require_login()
    row = await operations.get_policy(call.session, path_int(call.request, "id"))
    await call.project_named(str(row.project_id), ("tag-retention", action))
    return row


def _wake(call: ApiCall) -> None:
    if call.services.jobs is not None:
        call.services.jobs.wakeup.set()


async def get_metadatas(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_login()
    return JSONResponse(metadata())


async def create_retention(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_login()
        policy = parse_policy(await json_body(request))
        try:
            found = await call.find_project(str(policy.project_id))
        except NotFound:  # Harbor: a missing project is the body's fault
            raise BadRequest(f"invalid Project id {policy.project_id}") from None
        await call.project_named(str(found.project.id), ("tag-retention", "create"))
        row = await operations.create_policy(call.session, found.project, policy, by=call.actor)
        location = f"/api/v2.0/retentions/{row.id}"
    return Response(status_code=201, headers={"Location": location})


async def get_retention(request: Request) -> Response:
    async with api_call(request) as call:
        row = await _policy(call, "read")
        answer = policy_json(row)
    return JSONResponse(answer)


async def update_retention(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_login()
        policy = parse_policy(await json_body(request))
        row = await _policy(call, "update")
        await operations.update_policy(call.session, row, policy, by=call.actor)
    return Response(status_code=200)


async def delete_retention(request: Request) -> Response:
    async with api_call(request) as call:
        row = await _policy(call, "delete")
        await operations.delete_policy(call.session, row, by=call.actor)
    return Response(status_code=200)


async def trigger_execution(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_login()
        body = await json_body(request)
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise BadRequest("dry_run must be true or false")
        row = await _policy(call, "update")
        execution = await operations.run_now(call.session, row, dry_run=dry_run, by=call.actor)
        location = f"/api/v2.0/retentions/{row.id}/executions/{execution.id}"
    _wake(call)
    return Response(status_code=201, headers={"Location": location})


async def list_executions(request: Request) -> Response:
    page = page_of(request)
    async with api_call(request) as call:
        row = await _policy(call, "list")
        rows, total = await operations.executions(
            call.session, row, offset=page.offset, limit=page.size
        )
        items = [execution_json(execution) for execution in rows]
    return paged_response(request, items, total, page)


async def operate_execution(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_login()
        body = await json_body(request)
        if body.get("action") != "stop":
            raise BadRequest("action should be 'stop'")
        row = await _policy(call, "update")
        await operations.stop_execution(call.session, row, path_int(request, "eid"))
    return Response(status_code=200)


async def list_tasks(request: Request) -> Response:
    page = page_of(request)
    async with api_call(request) as call:
        row = await _policy(call, "list")
        execution = await operations.execution_of(call.session, row, path_int(request, "eid"))
        tasks = operations.tasks_of(execution)
    shown = tasks[page.offset : page.offset + page.size]
    return paged_response(request, [task_json(task) for task in shown], len(tasks), page)


async def task_log(request: Request) -> Response:
    async with api_call(request) as call:
        row = await _policy(call, "read")
        execution = await operations.execution_of(call.session, row, path_int(request, "eid"))
        task = operations.task_of(execution, path_int(request, "tid"))
    return PlainTextResponse(task.log)


ROUTES = [
    Route("/retentions/metadatas", get_metadatas, methods=["GET"]),
    Route("/retentions", create_retention, methods=["POST"]),
    Route("/retentions/{id}", get_retention, methods=["GET"]),
    Route("/retentions/{id}", update_retention, methods=["PUT"]),
    Route("/retentions/{id}", delete_retention, methods=["DELETE"]),
    Route("/retentions/{id}/executions", trigger_execution, methods=["POST"]),
    Route("/retentions/{id}/executions", list_executions, methods=["GET"]),
    Route("/retentions/{id}/executions/{eid}", operate_execution, methods=["PATCH"]),
    Route("/retentions/{id}/executions/{eid}/tasks", list_tasks, methods=["GET"]),
    Route("/retentions/{id}/executions/{eid}/tasks/{tid}", task_log, methods=["GET"]),
]
