"""``/quotas`` (Harbor's), ``/configurations`` (its ``storage_per_project``), and harborlite's
own ``/quotas/{id}/recount`` and ``/projects/{p}/uploads``.

Harbor lists, reads and changes quotas with system access (system administrators); a
project's members read its quota in ``/projects/{p}/summary``. The rules are
:mod:`harborlite.quotas`'.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.body import json_body, path_int
from harborlite.api.call import ApiCall, api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.render import iso
from harborlite.db.models import utcnow
from harborlite.errors import BadRequest, Forbidden, NotFound
from harborlite.projects import queries as projects
from harborlite.quotas import operations, queries
from harborlite.quotas.operations import QuotaView
from harborlite.quotas.recount import recount
from harborlite.quotas.uploads import partial_uploads
from harborlite.quotas.usage import Clock, upload_window

REFERENCE = "project"
QUOTA_ENABLED = "quota_per_project_enable"


def quota_json(view: QuotaView) -> dict[str, Any]:
    """Harbor's ``Quota``."""
    return {
        "id": view.quota.id,
        "ref": {"id": view.project_id, "name": view.project_name, "owner_name": view.owner_name},
        "creation_time": iso(view.quota.creation_time),
        "update_time": iso(view.quota.update_time),
        "hard": {"storage": view.hard},
        "used": {"storage": view.used},
    }


def window_of(call: ApiCall) -> timedelta:
    return upload_window(call.services.settings.gc_time_window_minutes)


def _require_read(call: ApiCall) -> None:
    call.require_login()
    if not operations.may_read(call.principal):
        raise Forbidden("only system administrators may read quotas")


def _require_manage(call: ApiCall, what: str = "change quotas") -> None:
    call.require_login()
    if not operations.may_manage(call.principal):
        raise Forbidden(f"only system administrators may {what}")


async def list_quotas(request: Request) -> Response:
    page = page_of(request)
    reference = request.query_params.get("reference") or REFERENCE
    reference_id = request.query_params.get("reference_id") or None
    async with api_call(request) as call:
        _require_read(call)
        views: list[QuotaView] = []
        total = 0
        if reference == REFERENCE and (reference_id is None or reference_id.isdigit()):
            views, total = await operations.list_quotas(
                call.session,
                project_id=int(reference_id) if reference_id else None,
                sort=request.query_params.get("sort"),
                offset=page.offset,
                limit=page.size,
                window=window_of(call),
            )
    return paged_response(request, [quota_json(v) for v in views], total, page)


async def get_quota(request: Request) -> Response:
    quota_id = path_int(request, "id")
    async with api_call(request) as call:
        _require_read(call)
        view = await operations.quota_view(call.session, quota_id, window=window_of(call))
    return JSONResponse(quota_json(view))


async def update_quota(request: Request) -> Response:
    quota_id = path_int(request, "id")
    async with api_call(request) as call:
        _require_manage(call)
        body: object = await json_body(request) if await request.body() else None
        hard = operations.hard_of(body)
        quota = await queries.get_quota(call.session, quota_id)
        project = await projects.get_project(call.session, quota.project_id) if quota else None
        if quota is None or project is None:
            raise NotFound(f"quota {quota_id} not found")
        await operations.set_limit(call.session, quota, hard, project=project, by=call.actor)
    return Response(status_code=200)


async def recount_quota(request: Request) -> Response:
    """harborlite's: recount the project's usage from the registry (what its artifacts hold)."""
    quota_id = path_int(request, "id")
    async with api_call(request) as call:
        _require_manage(call, "recount quotas")
        quota = await queries.get_quota(call.session, quota_id)
        if quota is None:
            raise NotFound(f"quota {quota_id} not found")
        services = call.services
        result = await recount(
            call.session,
            services.upstream,
            services.storage,
            quota.project_id,
            window=window_of(call),
        )
        view = await operations.quota_view(call.session, quota_id, window=window_of(call))
    return JSONResponse(
        {
            "quota": quota_json(view),
            "before": {"storage": result.before},
            "after": {"storage": result.after},
            "manifests": result.manifests,
            "blobs": result.blobs,
            "forgotten": result.forgotten,
            "unreadable": result.unreadable,
        }
    )


async def get_configurations(request: Request) -> Response:
    """Harbor's ``/configurations``, as far as harborlite has them: the quota settings."""
    async with api_call(request) as call:
        call.require_login()
        if not operations.may_read(call.principal):
            raise Forbidden("only system administrators may read the configuration")
        default = await operations.default_limit(call.session)
    return JSONResponse(
        {
            queries.STORAGE_PER_PROJECT: {"value": default, "editable": True},
            QUOTA_ENABLED: {"value": True, "editable": False},
        }
    )


async def update_configurations(request: Request) -> Response:
    async with api_call(request) as call:
        _require_manage(call, "change the configuration")
        body = await json_body(request)
        for key in body:
            if key not in (queries.STORAGE_PER_PROJECT, QUOTA_ENABLED):
                raise BadRequest(
                    f"configuration {key!r} is not one harborlite has; it has "
                    f"{queries.STORAGE_PER_PROJECT} and {QUOTA_ENABLED}"
                )
        if QUOTA_ENABLED in body and body[QUOTA_ENABLED] is not True:
            raise BadRequest(f"{QUOTA_ENABLED} cannot be turned off: harborlite always counts")
        if queries.STORAGE_PER_PROJECT in body:
            await operations.set_default_limit(
                call.session, body[queries.STORAGE_PER_PROJECT], by=call.actor
            )
    return Response(status_code=200)


async def project_uploads(request: Request) -> Response:
    """harborlite's: the project's unfinished uploads (from the registry's storage) and the
    blobs its pushes left that no artifact holds, each with whether it still counts."""
    async with api_call(request) as call:
        found = await call.project(("repository", "push"))
        project = found.project
        window = window_of(call)
        clock = Clock.of(window)
        blobs = await queries.uncounted_blobs(call.session, project.id, clock.cutoff, 1000)
        storage_root = call.services.storage_root
    uploads = await partial_uploads(storage_root, project.name, now=clock.now, window=window)
    return JSONResponse(
        {
            "project": project.name,
            "window_minutes": int(window.total_seconds() // 60),
            "storage_readable": uploads is not None,
            "uploads": [
                {
                    "repository": u.repository,
                    "id": u.id,
                    "size": u.size,
                    "started_at": iso(u.started_at),
                    "last_write_time": iso(u.last_write),
                    "abandoned": u.abandoned,
                    "counted": False,
                }
                for u in uploads or []
            ],
            "blobs": [
                {
                    "digest": row.digest,
                    "size": row.size,
                    "pushed_at": iso(row.pending_since),
                    "abandoned": not counts,
                    "counted": counts,
                }
                for row, counts in blobs
            ],
            "time": iso(utcnow()),
        }
    )


# harborlite's own operations, for the API description (api/openapi.py's EXTENSION_PATHS)
EXTENSION_PATHS: dict[str, dict[str, Any]] = {
    "/quotas/{id}/recount": {
        "post": {
            "summary": "Recount the project's usage from the registry",
            "description": "Reads every manifest the project's artifacts have from the registry "
            "(and the blob sizes from its storage when readable) and makes the quota's usage "
            "what they hold; forgets abandoned uploads and deleted artifacts' blobs.",
            "operationId": "recountQuota",
            "tags": ["harborlite"],
            "x-harborlite": True,
            "parameters": [
                {"$ref": "#/parameters/requestId"},
                {"name": "id", "in": "path", "type": "integer", "required": True},
            ],
            "responses": {
                "200": {"description": "The usage before and after", "schema": {}},
                "401": {"$ref": "#/responses/401"},
                "403": {"$ref": "#/responses/403"},
                "404": {"$ref": "#/responses/404"},
            },
        }
    },
    "/projects/{project_name_or_id}/uploads": {
        "get": {
            "summary": "The project's unfinished uploads and unreferenced blobs",
            "description": "Uploads in progress or abandoned, read from the registry's storage "
            "(never counted), and completed blobs no artifact holds, with whether each still "
            "counts (a push within the upload window) or not (abandoned).",
            "operationId": "listProjectUploads",
            "tags": ["harborlite"],
            "x-harborlite": True,
            "parameters": [
                {"$ref": "#/parameters/requestId"},
                {"$ref": "#/parameters/isResourceName"},
                {"$ref": "#/parameters/projectNameOrId"},
            ],
            "responses": {
                "200": {"description": "Uploads and blobs", "schema": {}},
                "401": {"$ref": "#/responses/401"},
                "403": {"$ref": "#/responses/403"},
                "404": {"$ref": "#/responses/404"},
            },
        }
    },
}

ROUTES = [
    Route("/quotas", list_quotas, methods=["GET"]),
    Route("/quotas/{id}", get_quota, methods=["GET"]),
    Route("/quotas/{id}", update_quota, methods=["PUT"]),
    Route("/quotas/{id}/recount", recount_quota, methods=["POST"]),
    Route("/configurations", get_configurations, methods=["GET"]),
    Route("/configurations", update_configurations, methods=["PUT"]),
    Route("/projects/{project_name_or_id}/uploads", project_uploads, methods=["GET"]),
]
