"""Harbor's ``/registries`` (replication and proxy-cache endpoints) and ``/replication/adapters``.

- ``GET /registries`` (``q`` on name, type, url, status; ``name`` fuzzy; paging), ``POST``
  (201, ``Location``), ``GET``/``PUT``/``DELETE /registries/{id}``;
- ``POST /registries/ping``: a stored endpoint (``id``) or one described by the body, 200 when
  it answers, 400 ``the registry is unhealthy: <why>`` when not;
- ``GET /registries/{id}/info``: the filters and triggers replication supports for its type;
- ``GET /replication/adapters``, ``/replication/adapterinfos``: the types harborlite talks to.

System administrators only (401 anonymous, 403 otherwise), as Harbor. The credential's secret is
stored sealed and shown as ``*****`` (Harbor's ``hideAccessSecret``); a ``PUT`` that sends
``*****`` back keeps it. Beyond Harbor: ``rate_per_second`` (a request-rate cap harborlite keeps
towards the endpoint) and ``status_message`` (why the last check failed). A create or an update
queues a health check (the ``registry_health`` job), which also runs every five minutes.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.body import json_body, path_int
from harborlite.api.call import ApiCall, api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, conditions, parse_sort, q_of
from harborlite.api.render import iso
from harborlite.auth.permissions import Action
from harborlite.endpoints import health, operations
from harborlite.endpoints import queries as endpoints
from harborlite.endpoints.models import Registry
from harborlite.endpoints.validation import HIDDEN_SECRET
from harborlite.errors import BadRequest
from harborlite.sealing import SecretBox

FIELDS = {
    "name": Field(Registry.name),
    "type": Field(Registry.type),
    "url": Field(Registry.url),
    "status": Field(Registry.status),
    "description": Field(Registry.description),
    "creation_time": Field(Registry.creation_time, "time"),
    "update_time": Field(Registry.update_time, "time"),
    "id": Field(Registry.id, "int"),
}


def registry_json(row: Registry) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "type": row.type,
        "url": row.url,
        "insecure": row.insecure,
        "ca_certificate": row.ca_certificate,
        "credential": {
            "type": row.credential_type or "basic",
            "access_key": row.access_key or "",
            "access_secret": HIDDEN_SECRET if row.access_secret_sealed else "",
        },
        "description": row.description,
        "status": row.status,
        "status_message": row.status_message,
        "rate_per_second": row.rate_per_second,
        "creation_time": iso(row.creation_time),
        "update_time": iso(row.update_time),
    }


def require_admin(call: ApiCall, action: Action) -> None:
    """Endpoints hold other registries' credentials: Harbor's system resource ``registry``
    (system administrators, and system robots granted it)."""
    call.require_system("registry", action)


def wake_jobs(call: ApiCall) -> None:
    """The queued health check runs now rather than at the runner's next tick."""
    if call.services.jobs is not None:
        call.services.jobs.wakeup.set()


def secrets_of(call: ApiCall) -> SecretBox:
    return SecretBox.for_data_dir(call.services.settings.data_dir)


async def list_registries(request: Request) -> Response:
    page = page_of(request)
    where = conditions(q_of(request), FIELDS)
    name = request.query_params.get("name")
    if name:
        where.append(Registry.name.contains(name, autoescape=True))
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    async with api_call(request) as call:
        require_admin(call, "list")
        rows, total = await endpoints.list_registries(
            call.session, conditions=where, order_by=order, offset=page.offset, limit=page.size
        )
        items = [registry_json(row) for row in rows]
    return paged_response(request, items, total, page)


async def create_registry(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "create")
        body = await json_body(request)
        row = await operations.create_registry(call.session, body, secrets_of(call), by=call.actor)
        await health.queue_check(call.session, row.id)
        location = f"/api/v2.0/registries/{row.id}"
    wake_jobs(call)
    return Response(status_code=201, headers={"Location": location})


async def get_registry(request: Request) -> Response:
    registry_id = path_int(request, "id")
    async with api_call(request) as call:
        require_admin(call, "read")
        row = await operations.registry_of(call.session, registry_id)
        return JSONResponse(registry_json(row))


async def update_registry(request: Request) -> Response:
    registry_id = path_int(request, "id")
    async with api_call(request) as call:
        require_admin(call, "update")
        body = await json_body(request)
        row = await operations.registry_of(call.session, registry_id)
        await operations.update_registry(call.session, row, body, secrets_of(call), by=call.actor)
        await health.queue_check(call.session, row.id)
    wake_jobs(call)
    return Response(status_code=200)


async def delete_registry(request: Request) -> Response:
    registry_id = path_int(request, "id")
    async with api_call(request) as call:
        require_admin(call, "delete")
        await operations.delete_registry(call.session, registry_id, by=call.actor)
    return Response(status_code=200)


async def ping_registry(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "read")
        body = await json_body(request)
        endpoint = await operations.endpoint_to_ping(call.session, body, secrets_of(call))
    problem = await health.ping(endpoint)  # no session held while the remote answers
    if problem is not None:
        raise BadRequest(f"the registry is unhealthy: {problem}")
    return Response(status_code=200)


def info_of(kind: str) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [
        {"type": "name", "style": "input", "values": []},
        {"type": "tag", "style": "input", "values": []},
    ]
    if kind == "harbor":
        filters.append({"type": "label", "style": "list", "values": []})
    filters.append({"type": "resource", "style": "radio", "values": ["image", "artifact"]})
    return {
        "type": kind,
        "description": DESCRIPTIONS[kind],
        "supported_resource_filters": filters,
        "supported_triggers": ["manual", "scheduled", "event_based"],
        "supported_copy_by_chunk": False,
    }


async def registry_info(request: Request) -> Response:
    registry_id = path_int(request, "id")
    async with api_call(request) as call:
        require_admin(call, "read")
        row = await operations.registry_of(call.session, registry_id)
        return JSONResponse(info_of(row.type))


DESCRIPTIONS = {
    "harbor": "Harbor, or another harborlite",
    "docker-registry": "any OCI distribution registry (registry:2, zot, ...)",
    "docker-hub": "Docker Hub (its token flow; registry-1.docker.io)",
}


async def list_adapters(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "list")
    return JSONResponse(list(endpoints.TYPES))


ADAPTER_INFOS: dict[str, Any] = {
    "docker-hub": {
        "endpoint_pattern": {
            "endpoint_type": "EndpointPatternTypeFix",
            "endpoints": [{"key": "hub.docker.com", "value": endpoints.DOCKER_HUB_URL}],
        },
        "credential_pattern": {
            "access_key_type": "AccessKeyTypeStandard",
            "access_key_data": "",
            "access_secret_type": "AccessSecretTypeStandard",
            "access_secret_data": "",
        },
    },
    "harbor": {"endpoint_pattern": {"endpoint_type": "EndpointPatternTypeStandard"}},
    "docker-registry": {"endpoint_pattern": {"endpoint_type": "EndpointPatternTypeStandard"}},
}


async def list_adapter_infos(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "list")
    return JSONResponse(ADAPTER_INFOS)


_RATE = {
    "type": "number",
    "x-nullable": True,
    "description": "harborlite: at most this many requests a second to the endpoint",
}

# harborlite's additions to Harbor's Registry definition, for the API description
EXTENSION_FIELDS: dict[str, dict[str, Any]] = {
    "Registry": {
        "rate_per_second": _RATE,
        "status_message": {"type": "string", "description": "harborlite: why it is unhealthy"},
    },
    "RegistryUpdate": {"rate_per_second": _RATE},
}
EXTENSION_PATHS: dict[str, dict[str, Any]] = {}  # every path is Harbor's own

ROUTES = [
    Route("/registries", list_registries, methods=["GET"]),
    Route("/registries", create_registry, methods=["POST"]),
    Route("/registries/ping", ping_registry, methods=["POST"]),
    Route("/registries/{id}", get_registry, methods=["GET"]),
    Route("/registries/{id}", update_registry, methods=["PUT"]),
    Route("/registries/{id}", delete_registry, methods=["DELETE"]),
    Route("/registries/{id}/info", registry_info, methods=["GET"]),
    Route("/replication/adapters", list_adapters, methods=["GET"]),
    Route("/replication/adapterinfos", list_adapter_infos, methods=["GET"]),
]
