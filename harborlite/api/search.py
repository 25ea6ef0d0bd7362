"""``/search`` (projects and repositories by name) and ``/statistics`` (counts)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.call import api_call
from harborlite.api.render import project_json
from harborlite.artifacts import repositories as repository_rows
from harborlite.auth.permissions import system_can
from harborlite.errors import BadRequest
from harborlite.projects import queries as projects

SEARCH_LIMIT = 100


async def search(request: Request) -> Response:
    fragment = request.query_params.get("q")
    if fragment is None:
        raise BadRequest("q is required")
    if "\x00" in fragment:  # no name holds one, and PostgreSQL refuses it in a text parameter
        raise BadRequest("q must not contain a NUL character")
    async with api_call(request) as call:
        session, principal = call.session, call.principal
        found = await projects.search_projects(session, principal, fragment, SEARCH_LIMIT)
        ids = [project.id for project, _ in found]
        owners = await projects.owner_names(session, [p.owner_id for p, _ in found if p.owner_id])
        counts = await projects.repository_counts(session, ids)
        visible = projects.visible_condition(principal)
        repositories = await repository_rows.search_repositories(
            session, visible, fragment, SEARCH_LIMIT
        )
        artifact_counts = await repository_rows.artifact_counts(
            session, [r.id for r, _ in repositories]
        )
    body: dict[str, list[dict[str, Any]]] = {
        "project": [
            project_json(
                project,
                owner_name=owners.get(project.owner_id or 0, ""),
                role=role,
                repo_count=counts.get(project.id, 0),
            )
            for project, role in found
        ],
        "repository": [
            {
                "project_id": project.id,
                "project_name": project.name,
                "project_public": project.public,
                "repository_name": repository.name,
                "pull_count": int(repository.pull_count or 0),
                "artifact_count": artifact_counts.get(repository.id, 0),
            }
            for repository, project in repositories
        ],
    }
    return JSONResponse(body)


async def statistics(request: Request) -> Response:
    """Counts of the projects and repositories the caller may see; totals for admins only."""
    async with api_call(request) as call:
        call.require_login()
        session, principal = call.session, call.principal
        visible = projects.visible_condition(principal)
        project_counts = await projects.count_by_visibility(session, visible)
        repository_counts = await repository_rows.repository_count_by_visibility(session, visible)
        body = {
            "private_project_count": project_counts.get(False, 0),
            "private_repo_count": repository_counts.get(False, 0),
            "public_project_count": project_counts.get(True, 0),
            "public_repo_count": repository_counts.get(True, 0),
        }
        if system_can(principal, "statistic", "read"):
            body["total_project_count"] = sum(project_counts.values())
            body["total_repo_count"] = sum(repository_counts.values())
            body["total_storage_consumption"] = await repository_rows.storage_used(session)
    return JSONResponse(body)


ROUTES = [
    Route("/search", search, methods=["GET"]),
    Route("/statistics", statistics, methods=["GET"]),
]
