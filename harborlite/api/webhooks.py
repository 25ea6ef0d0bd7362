"""``/projects/{project_name_or_id}/webhook/...``: Harbor's webhook API.

- ``policies``: list (paged), ``POST`` (201, ``Location``; the body is the new policy with its
  ``secret``, shown this once), ``GET``/``PUT``/``DELETE`` one;
- ``policies/{id}/executions`` (paged, newest first), ``.../executions/{eid}/tasks``,
  ``.../tasks/{tid}/log`` (text/plain: every attempt, with the body sent);
- ``events`` (the supported event types, notify types and payload formats), ``lasttrigger``.

Beyond Harbor: ``POST policies/{id}/secret`` makes a new signing secret and shows it once
(the only way to see one again). Reading takes ``webhook-policy read`` (ProjectAdmin,
Maintainer), changing ``create``/``update``/``delete`` (ProjectAdmin); system admins may all.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harborlite.api.body import json_body, path_int
from harborlite.api.call import ApiCall, InProject, api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.render import iso
from harborlite.auth.permissions import Action
from harborlite.webhooks import operations
from harborlite.webhooks.events import supported_events
from harborlite.webhooks.models import WebhookPolicy, WebhookTask
from harborlite.webhooks.operations import WEBHOOK, ExecutionView
from harborlite.webhooks.policy import parse_policy


def policy_json(policy: WebhookPolicy) -> dict[str, Any]:
    """Harbor's ``WebhookPolicy`` (the secret is never part of it)."""
    return {
        "id": policy.id,
        "name": policy.name,
        "description": policy.description,
        "project_id": policy.project_id,
        "targets": [dict(target) for target in policy.targets],
        "event_types": list(policy.event_types),
        "creator": policy.creator,
        "creation_time": iso(policy.creation_time),
        "update_time": iso(policy.update_time),
        "enabled": policy.enabled,
    }


def execution_json(view: ExecutionView) -> dict[str, Any]:
    """Harbor's ``Execution``."""
    execution, counts = view.execution, view.counts
    return {
        "id": execution.id,
        "vendor_type": WEBHOOK,
        "vendor_id": view.policy_id,
        "status": execution.status,
        "status_message": "",
        "metrics": {
            "task_count": sum(counts.values()),
            "success_task_count": counts.get("Success", 0),
            "error_task_count": counts.get("Error", 0),
            "pending_task_count": counts.get("Pending", 0),
            "running_task_count": counts.get("Running", 0),
            "scheduled_task_count": 0,
            "stopped_task_count": counts.get("Stopped", 0),
        },
        "trigger": execution.trigger,
        "extra_attrs": {"event_type": view.event_type},
        "start_time": iso(execution.start_time or execution.creation_time),
        "end_time": iso(execution.end_time),
    }


def task_json(task: WebhookTask) -> dict[str, Any]:
    """Harbor's ``Task``; ``extra_attrs`` names the target and the last answer."""
    return {
        "id": task.id,
        "execution_id": task.execution_id,
        "status": task.status,
        "status_message": task.status_message,
        "run_count": task.run_count,
        "extra_attrs": {
            "event_type": task.event_type,
            "type": task.target_type,
            "address": task.address,
            "payload_format": task.payload_format,
            "status_code": task.status_code,
            "duration_ms": task.duration_ms,
        },
        "creation_time": iso(task.creation_time),
        "update_time": iso(task.update_time),
        "start_time": iso(task.start_time),
        "end_time": iso(task.end_time),
    }


async def _project(call: ApiCall, action: Action) -> InProject:
    return await call.project(("webhook-policy", action))


async def _policy(call: ApiCall, action: Action) -> WebhookPolicy:
    found = await _project(call, action)
    return await operations.get_policy(
        call.session, found.project, path_int(call.request, "webhook_policy_id")
    )


async def list_policies(request: Request) -> Response:
    page = page_of(request)
    async with api_call(request) as call:
        found = await _project(call, "list")
        rows, total = await operations.list_policies(
            call.session, found.project.id, offset=page.offset, limit=page.size
        )
        items = [policy_json(row) for row in rows]
    return paged_response(request, items, total, page)


async def create_policy(request: Request) -> Response:
    async with api_call(request) as call:
        found = await _project(call, "create")
        fields = parse_policy(await json_body(request))
        row = await operations.create_policy(call.session, found.project, fields, by=call.actor)
        shown = {**policy_json(row), "secret": row.secret}
        location = f"{request.url.path.rstrip('/')}/{row.id}"
    return JSONResponse(shown, status_code=201, headers={"Location": location})


async def get_policy(request: Request) -> Response:
    async with api_call(request) as call:
        row = await _policy(call, "read")
        return JSONResponse(policy_json(row))


async def update_policy(request: Request) -> Response:
    async with api_call(request) as call:
        row = await _policy(call, "update")
        fields = parse_policy(await json_body(request))
        await operations.update_policy(call.session, row, fields, by=call.actor)
    return Response(status_code=200)


async def delete_policy(request: Request) -> Response:
    async with api_call(request) as call:
        row = await _policy(call, "delete")
        await operations.delete_policy(call.session, row, by=call.actor)
    return Response(status_code=200)


async def rotate_secret(request: Request) -> Response:
    async with api_call(request) as call:
        row = await _policy(call, "update")
        secret = await operations.rotate_secret(call.session, row, by=call.actor)
    return JSONResponse({"secret": secret})


async def list_executions(request: Request) -> Response:
    page = page_of(request)
    async with api_call(request) as call:
        row = await _policy(call, "read")
        views, total = await operations.list_executions(
            call.session, row, offset=page.offset, limit=page.size
        )
        items = [execution_json(view) for view in views]
    return paged_response(request, items, total, page)


async def list_tasks(request: Request) -> Response:
    page = page_of(request)
    async with api_call(request) as call:
        row = await _policy(call, "read")
        view = await operations.get_execution(call.session, row, path_int(request, "execution_id"))
        tasks = await operations.list_tasks(call.session, view.execution.id)
        shown = tasks[page.offset : page.offset + page.size]
        items = [task_json(task) for task in shown]
    return paged_response(request, items, len(tasks), page)


async def task_log(request: Request) -> Response:
    async with api_call(request) as call:
        row = await _policy(call, "read")
        view = await operations.get_execution(call.session, row, path_int(request, "execution_id"))
        task = await operations.get_task(
            call.session, view.execution.id, path_int(request, "task_id")
        )
        text = task.log
    return PlainTextResponse(text)


async def events(request: Request) -> Response:
    async with api_call(request) as call:
        await _project(call, "read")
    return JSONResponse(supported_events())


async def last_trigger(request: Request) -> Response:
    async with api_call(request) as call:
        found = await _project(call, "read")
        rows = await operations.last_triggers(call.session, found.project.id)
        items = [
            {
                "policy_name": row.policy_name,
                "enabled": row.enabled,
                "event_type": row.event_type,
                "creation_time": iso(row.creation_time),
                "last_trigger_time": iso(row.last_trigger_time) or "0001-01-01T00:00:00.000Z",
            }
            for row in rows
        ]
    return JSONResponse(items)


BASE = "/projects/{project_name_or_id}/webhook"
POLICY = BASE + "/policies/{webhook_policy_id}"

EXTENSION_PATHS: dict[str, dict[str, Any]] = {
    "/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}/secret": {
        "post": {
            "summary": "Make a new signing secret for the policy (the old one stops verifying)",
            "description": "Deliveries carry X-Harborlite-Timestamp and X-Harborlite-Signature "
            "(sha256=HMAC-SHA256 of '<timestamp>.<body>' keyed with this secret). The secret "
            "is shown in this answer only.",
            "operationId": "rotateWebhookPolicySecret",
            "tags": ["harborlite"],
            "x-harborlite": True,
            "parameters": [
                {"$ref": "#/parameters/requestId"},
                {"$ref": "#/parameters/isResourceName"},
                {"$ref": "#/parameters/projectNameOrId"},
                {"$ref": "#/parameters/webhookPolicyId"},
            ],
            "responses": {
                "200": {
                    "description": "The new secret",
                    "schema": {"type": "object", "properties": {"secret": {"type": "string"}}},
                },
                "401": {"$ref": "#/responses/401"},
                "403": {"$ref": "#/responses/403"},
                "404": {"$ref": "#/responses/404"},
            },
        }
    }
}

ROUTES = [
    Route(BASE + "/policies", list_policies, methods=["GET"]),
    Route(BASE + "/policies", create_policy, methods=["POST"]),
    Route(POLICY, get_policy, methods=["GET"]),
    Route(POLICY, update_policy, methods=["PUT"]),
    Route(POLICY, delete_policy, methods=["DELETE"]),
    Route(POLICY + "/secret", rotate_secret, methods=["POST"]),
    Route(POLICY + "/executions", list_executions, methods=["GET"]),
    Route(POLICY + "/executions/{execution_id}/tasks", list_tasks, methods=["GET"]),
    Route(POLICY + "/executions/{execution_id}/tasks/{task_id}/log", task_log, methods=["GET"]),
    Route(BASE + "/events", events, methods=["GET"]),
    Route(BASE + "/lasttrigger", last_trigger, methods=["GET"]),
]
