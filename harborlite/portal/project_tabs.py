"""A project's tabs other than its members: repositories, logs and configuration (making the
project public or private, through :func:`harborlite.projects.operations.set_public`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.audit.queries import list_logs
from harborlite.portal import queries
from harborlite.portal.call import page_call
from harborlite.portal.key_pages import cosign_keys_section
from harborlite.portal.pages import checked_form, page_number, redirect
from harborlite.portal.paging import Pager
from harborlite.portal.quota_pages import quota_bar
from harborlite.projects import operations
from harborlite.projects import queries as projects

PAGE_SIZE = 25


async def repositories_tab(request: Request) -> Response:
    search = request.query_params.get("q", "").strip()
    page = page_number(request)
    async with page_call(request) as call:
        project, access = await call.project(request.path_params["project"])
        rows, total = await queries.repositories_of(
            call.session, project.id, name=search, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        return call.project_tab(
            "project_repositories.html",
            "repositories",
            project,
            access,
            rows=rows,
            search=search,
            pager=Pager(request, page, PAGE_SIZE, total),
            quota=await quota_bar(call.session, call.services, project.id),
        )


async def logs_tab(request: Request) -> Response:
    page = page_number(request)
    async with page_call(request) as call:
        project, access = await call.project(request.path_params["project"])
        call.require(access, ("log", "list"), "read its logs")
        entries, total = await list_logs(
            call.session, project_id=project.id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        return call.project_tab(
            "project_logs.html",
            "logs",
            project,
            access,
            entries=entries,
            pager=Pager(request, page, PAGE_SIZE, total),
        )


async def configuration_tab(request: Request) -> Response:
    async with page_call(request) as call:
        project, access = await call.project(request.path_params["project"])
        repository_count = await projects.repository_count(call.session, project.id)
        return call.project_tab(
            "project_configuration.html",
            "configuration",
            project,
            access,
            repository_count=repository_count,
            **await cosign_keys_section(call, project, access),
        )


async def update_configuration(request: Request) -> Response:
    name = request.path_params["project"]
    async with page_call(request) as call:
        form = await checked_form(request)
        public = form.get("public") in ("on", "true", "1")
        project, access = await call.project(name)
        call.require(access, ("project", "update"), "change its configuration")
        await operations.set_public(call.session, project, public, by=call.actor)
    state = "public" if public else "private"
    return redirect(request, f"/projects/{name}/configuration", notice=f"{name} is now {state}.")


ROUTES = [
    Route("/projects/{project}", repositories_tab, methods=["GET"]),
    Route("/projects/{project}/logs", logs_tab, methods=["GET"]),
    Route("/projects/{project}/configuration", configuration_tab, methods=["GET"]),
    Route("/projects/{project}/configuration", update_configuration, methods=["POST"]),
]
