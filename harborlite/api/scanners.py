"""``/scanners``: Harbor's scanner registry, and a project's scanner.

- ``GET /scanners`` (paged), ``POST /scanners`` (201, ``Location``), ``POST /scanners/ping``;
- ``GET``/``PUT``/``DELETE /scanners/{registration_id}``, ``PATCH`` with ``{"is_default":
  true}``, ``GET /scanners/{registration_id}/metadata`` (asks the adapter);
- ``GET``/``PUT /projects/{project_name_or_id}/scanner`` (``{"uuid": ...}``) and
  ``GET /projects/{p}/scanner/candidates``.

The registry is for system administrators; a project's scanner is read by its members and set
by its ProjectAdmins. The access credential is never shown.
"""

from __future__ import annotations

from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.body import json_body
from harborlite.api.call import ApiCall, api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.render import iso
from harborlite.auth.permissions import Action
from harborlite.errors import BadRequest, NotFound
from harborlite.scanning import adapter, registrations
from harborlite.scanning.adapter import AdapterError
from harborlite.scanning.models import Scanner
from harborlite.sealing import SealedSecretError


def require_admin(
    call: ApiCall, resource: Literal["scanner", "scan-all"] = "scanner", action: Action = "read"
) -> None:
    """The scanner registry and scan all are for system administrators (Harbor's system
    resources ``scanner`` and ``scan-all``), as :mod:`harborlite.auth.permissions` says."""
    call.require_system(resource, action)


def scanner_json(scanner: Scanner) -> dict[str, Any]:
    return {
        "uuid": scanner.uuid,
        "name": scanner.name,
        "description": scanner.description,
        "url": scanner.url,
        "disabled": scanner.disabled,
        "is_default": scanner.is_default,
        "auth": scanner.auth,
        "skip_certVerify": scanner.skip_cert_verify,
        "use_internal_addr": scanner.use_internal_addr,
        "create_time": iso(scanner.creation_time),
        "update_time": iso(scanner.update_time),
    }


async def list_scanners(request: Request) -> Response:
    page = page_of(request)
    async with api_call(request) as call:
        require_admin(call, "scanner", "list")
        rows = await registrations.list_scanners(call.session)
        items = [scanner_json(row) for row in rows]
    return paged_response(request, items[page.offset : page.offset + page.size], len(items), page)


async def create_scanner(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "scanner", "create")
        settings = registrations.settings_of(await json_body(request))
        scanner = await registrations.create(
            call.session, call.services.settings.data_dir, settings
        )
        location = f"/api/v2.0/scanners/{scanner.uuid}"
    return Response(status_code=201, headers={"Location": location})


async def ping(request: Request) -> Response:
    """Ask the adapter for its metadata with these settings: 200, or 400 saying why not."""
    async with api_call(request) as call:
        require_admin(call, "scanner", "create")
        settings = registrations.settings_of(await json_body(request), ping=True)
    endpoint = registrations.endpoint_of_settings(settings)
    try:
        await adapter.metadata(endpoint)
    except AdapterError as error:
        raise BadRequest(f"failed to ping the scanner adapter {settings.name}: {error}") from None
    return Response(status_code=200)


async def get_scanner(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "scanner", "read")
        scanner = await registrations.get_scanner(
            call.session, request.path_params["registration_id"]
        )
        answer = scanner_json(scanner)
    return JSONResponse(answer)


async def update_scanner(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "scanner", "update")
        scanner = await registrations.get_scanner(
            call.session, request.path_params["registration_id"]
        )
        settings = registrations.settings_of(await json_body(request))
        await registrations.replace(
            call.session, call.services.settings.data_dir, scanner, settings
        )
    return Response(status_code=200)


async def delete_scanner(request: Request) -> Response:
    """Harbor answers the deleted registration."""
    async with api_call(request) as call:
        require_admin(call, "scanner", "delete")
        scanner = await registrations.get_scanner(
            call.session, request.path_params["registration_id"]
        )
        answer = scanner_json(scanner)
        await registrations.delete(call.session, scanner)
    return JSONResponse(answer)


async def set_default(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "scanner", "update")
        body = await json_body(request)
        flag = body.get("is_default")
        if not isinstance(flag, bool):
            raise BadRequest("is_default must be true or false")
        scanner = await registrations.get_scanner(
            call.session, request.path_params["registration_id"]
        )
        await registrations.set_default(call.session, scanner, flag)
    return Response(status_code=200)


async def metadata(request: Request) -> Response:
    async with api_call(request) as call:
        require_admin(call, "scanner", "read")
        scanner = await registrations.get_scanner(
            call.session, request.path_params["registration_id"]
        )
        try:
            endpoint = registrations.endpoint_of(call.services.settings.data_dir, scanner)
        except SealedSecretError as error:
            raise BadRequest(str(error)) from None
    try:
        found = await adapter.metadata(endpoint)
    except AdapterError as error:
        raise BadRequest(f"failed to get the metadata of scanner {scanner.name}: {error}") from None
    return JSONResponse(found)


async def project_scanner(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("scan", "read"))
        scanner = await registrations.scanner_of_project(call.session, found.project.id)
        if scanner is None:
            raise NotFound(
                f"project {found.project.name} has no scanner and there is no default scanner"
            )
        answer = scanner_json(scanner)
    return JSONResponse(answer)


async def set_project_scanner(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("project", "update"))
        body = await json_body(request)
        await registrations.set_project_scanner(call.session, found.project, body.get("uuid"))
    return Response(status_code=200)


async def candidates(request: Request) -> Response:
    page = page_of(request)
    async with api_call(request) as call:
        await call.project(("project", "update"))
        rows = [row for row in await registrations.list_scanners(call.session) if not row.disabled]
        items = [scanner_json(row) for row in rows]
    return paged_response(request, items[page.offset : page.offset + page.size], len(items), page)


ROUTES = [
    Route("/scanners", list_scanners, methods=["GET"]),
    Route("/scanners", create_scanner, methods=["POST"]),
    Route("/scanners/ping", ping, methods=["POST"]),
    Route("/scanners/{registration_id}", get_scanner, methods=["GET"]),
    Route("/scanners/{registration_id}", update_scanner, methods=["PUT"]),
    Route("/scanners/{registration_id}", delete_scanner, methods=["DELETE"]),
    Route("/scanners/{registration_id}", set_default, methods=["PATCH"]),
    Route("/scanners/{registration_id}/metadata", metadata, methods=["GET"]),
    Route("/projects/{project_name_or_id}/scanner", project_scanner, methods=["GET"]),
    Route("/projects/{project_name_or_id}/scanner", set_project_scanner, methods=["PUT"]),
    Route("/projects/{project_name_or_id}/scanner/candidates", candidates, methods=["GET"]),
]
