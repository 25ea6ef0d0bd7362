"""``/replication/policies`` and ``/replication/executions``: Harbor's replication API.

Policies: list (``name`` and ``q=name=~x`` filter, paged), create (201 with ``Location``), get,
update, delete (412 while an execution is in progress). Executions: start one (``{"policy_id":
N}``, 201 with ``Location``), list them (``policy_id``, ``status``, ``trigger``), get one, stop
one (``PUT``), its tasks and a task's log (text). System administrators only, as in Harbor.

Shapes follow Harbor's swagger (``ReplicationPolicy``, ``ReplicationExecution``,
``ReplicationTask``); the local side of a policy shows as Harbor shows it, the registry ``{"id":
0, "name": "Local", "type": "harbor"}``. Beyond Harbor, an execution's ``extra_attrs`` carries
the bytes it moved and its throughput, and a task its ``bytes`` and ``attempts``.
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
from harborlite.endpoints.models import Registry
from harborlite.errors import BadRequest
from harborlite.jobs import operations as jobs
from harborlite.replication import operations as replication
from harborlite.replication.models import ReplicationPolicy, ReplicationTask
from harborlite.replication.policy import spec_of


def require_admin(call: ApiCall, action: Action) -> None:
    """Replication is Harbor's system resource ``replication`` (system administrators)."""
    call.require_system("replication", action)


def local_json(request: Request) -> dict[str, Any]:
    return {
        "id": 0,
        "name": "Local",
        "type": "harbor",
        "url": str(request.base_url).rstrip("/"),
        "insecure": False,
        "description": "",
        "status": "healthy",
        "credential": {"type": "secret", "access_key": ""},
    }


def registry_json(row: Registry) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "type": row.type,
        "url": row.url,
        "insecure": row.insecure,
        "description": row.description,
        "status": row.status,
        "credential": {"type": row.credential_type, "access_key": row.access_key or ""},
        "creation_time": iso(row.creation_time),
        "update_time": iso(row.update_time),
    }


async def _side(call: ApiCall, registry_id: int | None) -> dict[str, Any]:
    if registry_id is None:
        return local_json(call.request)
    row = await call.session.get(Registry, registry_id)
    return registry_json(row) if row is not None else {"id": registry_id}


async def policy_json(call: ApiCall, policy: ReplicationPolicy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "name": policy.name,
        "description": policy.description,
        "src_registry": await _side(call, policy.src_registry_id),
        "dest_registry": await _side(call, policy.dest_registry_id),
        "dest_namespace": policy.dest_namespace,
        "dest_namespace_replace_count": policy.dest_namespace_replace_count,
        "trigger": policy.trigger,
        "filters": policy.filters,
        "replicate_deletion": policy.replicate_deletion,
        "deletion": policy.replicate_deletion,
        "override": policy.override,
        "enabled": policy.enabled,
        "speed": policy.speed,
        "copy_by_chunk": policy.copy_by_chunk,
        "single_active_replication": policy.single_active_replication,
        "creation_time": iso(policy.creation_time),
        "update_time": iso(policy.update_time),
    }


def execution_json(execution: JobExecution, counts: dict[str, int]) -> dict[str, Any]:
    result = execution.result or {}
    in_progress = counts.get("InProgress", 0) + counts.get("Pending", 0)
    status = replication.HARBOR_STATUS.get(execution.status, execution.status)
    text = ""
    if status == "Failed":
        failed_lines = [line for line in execution.log.splitlines() if "failed" in line]
        text = failed_lines[-1].split(" ", 1)[-1] if failed_lines else "failed"
    return {
        "id": execution.id,
        "policy_id": int(execution.parameters.get("policy_id", 0)),
        "status": status,
        "trigger": replication.HARBOR_TRIGGERS.get(execution.trigger, "manual"),
        "start_time": iso(execution.start_time or execution.creation_time),
        "end_time": iso(execution.end_time),
        "status_text": text,
        "total": sum(counts.values()),
        "failed": counts.get("Failed", 0),
        "succeed": counts.get("Succeed", 0),
        "in_progress": in_progress,
        "stopped": counts.get("Stopped", 0),
        "extra_attrs": {
            "bytes": int(result.get("bytes", 0)),
            "seconds": result.get("seconds", 0),
            "throughput_bytes_per_second": int(result.get("throughput_bytes_per_second", 0)),
        },
    }


def _resource(repository: str, reference: str, tags: str) -> str:
    if reference.startswith(":"):
        return f"{repository}:[{reference[1:]}]"
    return f"{repository}:[{tags}]" if tags else f"{repository}@{reference}"


def task_json(task: ReplicationTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "execution_id": task.execution_id,
        "status": task.status,
        "job_id": str(task.id),
        "operation": task.operation,
        "resource_type": task.resource_type,
        "src_resource": _resource(task.src_resource, task.reference, task.tags),
        "dst_resource": _resource(task.dst_resource, task.reference, task.tags),
        "start_time": iso(task.start_time),
        "end_time": iso(task.end_time),
        "bytes": task.bytes,
        "attempts": task.attempts,
    }


def _name_filter(request: Request) -> str | None:
    name = request.query_params.get("name")
    query = request.query_params.get("q", "")
    for part in query.split(","):
        key, _, value = part.partition("=")
        if key.strip() == "name" and value:
            name = value.removeprefix("~")
    return name or None


def _optional_int(request: Request, key: str) -> int | None:
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise BadRequest(f"{key} must be a whole number, got {raw!r}")
    return int(raw)


# -- policies --------------------------------------------------------------------------------


async def list_policies(request: Request) -> Response:
    page = page_of(request)
    async with api_call(request) as call:
        require_admin(call, "list")
        rows, total = await replication.list_policies(
            call.session, name=_name_filter(request), offset=page.offset, limit=page.size
        )
        items = [await policy_json(call, row) for row in rows]
    return paged_response(request, items, total, page)


async def create_policy(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "create")
        spec = spec_of(await json_body(request))
        policy = await replication.create_policy(call.session, spec, call.principal.username)
        policy_id = policy.id
    return Response(
        status_code=201, headers={"Location": f"/api/v2.0/replication/policies/{policy_id}"}
    )


async def get_policy(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "read")
        policy = await replication.get_policy(call.session, path_int(request, "id"))
        answer = await policy_json(call, policy)
    return JSONResponse(answer)


async def update_policy(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "update")
        policy = await replication.get_policy(call.session, path_int(request, "id"))
        spec = spec_of(await json_body(request))
        await replication.update_policy(call.session, policy, spec)
    return Response(status_code=200)


async def delete_policy(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "delete")
        policy = await replication.get_policy(call.session, path_int(request, "id"))
        await replication.delete_policy(call.session, policy)
    return Response(status_code=200)


# -- executions ------------------------------------------------------------------------------


async def start_execution(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "create")
        body = await json_body(request)
        policy_id = body.get("policy_id")
        if isinstance(policy_id, bool) or not isinstance(policy_id, int) or policy_id < 1:
            raise BadRequest("policy_id is required: the id of a replication policy")
        policy = await replication.get_policy(call.session, policy_id)
        execution = await replication.start_execution(
            call.session, policy, "manual", by=call.principal.username
        )
        assert execution is not None  # a manual start is refused, never skipped
        execution_id = execution.id
    if call.services.jobs is not None:
        call.services.jobs.wakeup.set()
    return Response(
        status_code=201,
        headers={"Location": f"/api/v2.0/replication/executions/{execution_id}"},
    )


async def list_executions(request: Request) -> Response:
    page = page_of(request)
    async with api_call(request) as call:
        require_admin(call, "list")
        rows, total = await replication.list_executions(
            call.session,
            policy_id=_optional_int(request, "policy_id"),
            status=request.query_params.get("status") or None,
            trigger=request.query_params.get("trigger") or None,
            offset=page.offset,
            limit=page.size,
        )
        items = [
            execution_json(row, await replication.task_counts(call.session, row.id)) for row in rows
        ]
    return paged_response(request, items, total, page)


async def get_execution(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "read")
        execution = await replication.get_execution(call.session, path_int(request, "id"))
        counts = await replication.task_counts(call.session, execution.id)
        answer = execution_json(execution, counts)
    return JSONResponse(answer)


async def stop_execution(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "stop")
        execution = await replication.get_execution(call.session, path_int(request, "id"))
        await jobs.stop(call.session, execution)
    return Response(status_code=200)


async def list_tasks(request: Request) -> Response:
    page = page_of(request)
    async with api_call(request) as call:
        require_admin(call, "list")
        execution = await replication.get_execution(call.session, path_int(request, "id"))
        rows, total = await replication.tasks_of(
            call.session,
            execution.id,
            status=request.query_params.get("status") or None,
            offset=page.offset,
            limit=page.size,
        )
        items = [task_json(row) for row in rows]
    return paged_response(request, items, total, page)


async def task_log(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "read")
        execution = await replication.get_execution(call.session, path_int(request, "id"))
        task = await replication.get_task(call.session, execution.id, path_int(request, "task_id"))
        text = task.log
    return PlainTextResponse(text)


# harborlite's additions to Harbor's definitions, for the API description (api/openapi.py)
EXTENSION_FIELDS: dict[str, dict[str, Any]] = {
    "ReplicationExecution": {
        "extra_attrs": {
            "type": "object",
            "description": "harborlite: what the execution moved",
            "properties": {
                "bytes": {"type": "integer", "description": "Bytes of blobs sent"},
                "seconds": {"type": "number", "description": "How long it ran"},
                "throughput_bytes_per_second": {"type": "integer"},
            },
        }
    },
    "ReplicationTask": {
        "bytes": {"type": "integer", "description": "harborlite: bytes of blobs it sent"},
        "attempts": {"type": "integer", "description": "harborlite: tries so far (retries)"},
    },
}
EXTENSION_PATHS: dict[str, dict[str, Any]] = {}  # every path is Harbor's own

ROUTES = [
    Route("/replication/policies", list_policies, methods=["GET"]),
    Route("/replication/policies", create_policy, methods=["POST"]),
    Route("/replication/policies/{id}", get_policy, methods=["GET"]),
    Route("/replication/policies/{id}", update_policy, methods=["PUT"]),
    Route("/replication/policies/{id}", delete_policy, methods=["DELETE"]),
    Route("/replication/executions", list_executions, methods=["GET"]),
    Route("/replication/executions", start_execution, methods=["POST"]),
    Route("/replication/executions/{id}", get_execution, methods=["GET"]),
    Route("/replication/executions/{id}", stop_execution, methods=["PUT"]),
    Route("/replication/executions/{id}/tasks", list_tasks, methods=["GET"]),
    Route("/replication/executions/{id}/tasks/{task_id}/log", task_log, methods=["GET"]),
]
