"""Projects: the list, creating one and deleting one. The rules are the domain's
(:mod:`harborlite.projects.operations`); the sentences are the portal's."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.accounts import queries as accounts
from harborlite.endpoints import queries as endpoints
from harborlite.errors import BadRequest, Conflict, HarborliteError, PreconditionFailed
from harborlite.portal import queries
from harborlite.portal.call import page_call
from harborlite.portal.pages import checked_form, page_number, redirect, render, text_field
from harborlite.portal.paging import Pager
from harborlite.projects import operations
from harborlite.projects import queries as projects
from harborlite.proxycache import operations as proxy_cache
from harborlite.proxycache import queries as proxies

PAGE_SIZE = 25


async def project_list(request: Request) -> Response:
    search = request.query_params.get("q", "").strip()
    page = page_number(request)
    async with page_call(request) as call:
        rows, total = await projects.list_projects(
            call.session,
            call.viewer.principal,
            name=search or None,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        figures = await queries.project_figures(call.session, [p.id for p, _ in rows])
        cached = await proxies.registries_of(call.session, [p.id for p, _ in rows])
        proxy_endpoints = []
        if call.viewer.sysadmin:  # only a system admin makes a proxy-cache project
            found, _ = await endpoints.list_registries(call.session)
            proxy_endpoints = [e for e in found if e.type in proxy_cache.PROXY_TYPES]
    return render(
        request,
        "projects.html",
        nav="projects",
        rows=[(p, role, figures[p.id]) for p, role in rows],
        proxies=cached,
        proxy_endpoints=proxy_endpoints,
        search=search,
        pager=Pager(request, page, PAGE_SIZE, total),
    )


async def create_project(request: Request) -> Response:
    name = ""
    try:
        async with page_call(request) as call:
            form = await checked_form(request)
            name = text_field(form, "name")
            call.require_system("project", "create")
            proxy = None
            if form.get("proxy_cache") in ("on", "true", "1"):  # checked before it is created
                try:
                    proxy = await proxy_cache.checked_request(
                        call.session,
                        sysadmin=call.viewer.sysadmin,
                        registry_id=int(str(form.get("registry_id") or "0")),
                        metadata={},
                    )
                except (HarborliteError, ValueError) as error:
                    reason = error.message if isinstance(error, HarborliteError) else "no endpoint"
                    return redirect(
                        request, "/projects", error=f"No proxy-cache project {name}: {reason}."
                    )
            project = await operations.create_project(
                call.session,
                name=name,
                public=form.get("public") in ("on", "true", "1"),
                owner=await accounts.get_user(call.session, call.viewer.user_id),
                by=call.actor,
            )
            if proxy is not None:
                await proxy_cache.make_proxy(call.session, project, proxy, by=call.actor)
    except BadRequest:
        return redirect(
            request,
            "/projects",
            error=f"“{name}” is not a valid project name: use lower case letters and digits, "
            "with single '.', '_' or '-' between them.",
        )
    except Conflict:
        return redirect(request, "/projects", error=f"A project named “{name}” already exists.")
    return redirect(request, f"/projects/{name}", notice=f"Project {name} was created.")


async def delete_project(request: Request) -> Response:
    name = request.path_params["project"]
    async with page_call(request) as call:
        await checked_form(request)
        project, access = await call.project(name)
        call.require(access, ("project", "delete"), "delete the project")
        try:
            await operations.delete_project(call.session, project, by=call.actor)
        except PreconditionFailed:
            count = await projects.repository_count(call.session, project.id)
            return redirect(
                request,
                f"/projects/{name}/configuration",
                error=f"Project {name} still holds {count} "
                f"repositor{'y' if count == 1 else 'ies'}; delete them before the project.",
            )
    return redirect(request, "/projects", notice=f"Project {name} was deleted.")


ROUTES = [
    Route("/projects", project_list, methods=["GET"]),
    Route("/projects", create_project, methods=["POST"]),
    Route("/projects/{project}/delete", delete_project, methods=["POST"]),
]
