"""``/system/CVEAllowlist``: the system's CVE allowlist, as Harbor serves it.

- ``GET`` (anyone signed in): ``{id, project_id: 0, expires_at, items: [{cve_id}],
  creation_time, update_time}`` (an empty one before any was set);
- ``PUT`` the same shape (system administrators): 200; a refused body (a duplicate id, an
  expiry in the past...) is a 400 and leaves the allowlist as it was.

A project's own allowlist is its ``cve_allowlist`` field (``/projects``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.body import json_body
from harborlite.api.call import api_call
from harborlite.vulnerabilities import operations, queries
from harborlite.vulnerabilities.allowlists import allowlist_json
from harborlite.vulnerabilities.models import CveAllowlist


def system_json(row: CveAllowlist | None) -> dict[str, Any]:
    if row is None:
        return allowlist_json(
            row_id=0,
            project_id=0,
            items=[],
            expires_at=None,
            creation_time=None,
            update_time=None,
        )
    return allowlist_json(
        row_id=row.id,
        project_id=0,
        items=list(row.items or []),
        expires_at=row.expires_at,
        creation_time=row.creation_time,
        update_time=row.update_time,
    )


async def get_system_allowlist(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_login()
        row = await queries.system_allowlist(call.session)
        return JSONResponse(system_json(row))


async def put_system_allowlist(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_system("configuration", "update")  # Harbor: update on the configuration
        body = await json_body(request)
        await operations.set_system_allowlist(call.session, body, by=call.actor)
    return Response(status_code=200)


ROUTES = [
    Route("/system/CVEAllowlist", get_system_allowlist, methods=["GET"]),
    Route("/system/CVEAllowlist", put_system_allowlist, methods=["PUT"]),
]
