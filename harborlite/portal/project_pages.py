"""Projects: the list, creation and deletion, and a project's tabs (repositories, members,
logs, configuration). Every decision goes through ``harborlite.auth.permissions.can``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.accounts import queries as accounts
from harborlite.audit.events import CREATE, DELETE, UPDATE, AuditEvent, record
from harborlite.audit.queries import list_logs
from harborlite.auth.permissions import Action, ProjectAccess, Role, can
from harborlite.db.models import Project
from harborlite.errors import Forbidden, NotFound
from harborlite.portal import queries
from harborlite.portal.pages import (
    checked_form,
    origin,
    page_number,
    redirect,
    render,
    require_viewer,
    services,
    text_field,
)
from harborlite.portal.paging import Pager
from harborlite.projects import queries as projects
from harborlite.projects.names import valid_project_name
from harborlite.sessions.store import SignedIn

PAGE_SIZE = 25
ROLE_CHOICES = [
    Role.PROJECT_ADMIN,
    Role.MAINTAINER,
    Role.DEVELOPER,
    Role.GUEST,
    Role.LIMITED_GUEST,
]


@dataclass(frozen=True)
class Abilities:
    """What the viewer may do in a project, for showing or hiding controls."""

    update: bool
    delete: bool
    members: bool
    manage_members: bool
    logs: bool
    push: bool
    delete_artifacts: bool
    delete_tags: bool
    edit_repository: bool


def abilities(viewer: SignedIn, access: ProjectAccess) -> Abilities:
    p = viewer.principal
    return Abilities(
        update=can(p, access, "project", "update"),
        delete=can(p, access, "project", "delete"),
        members=can(p, access, "member", "list"),
        manage_members=can(p, access, "member", "create"),
        logs=can(p, access, "log", "list"),
        push=can(p, access, "repository", "push"),
        delete_artifacts=can(p, access, "artifact", "delete"),
        delete_tags=can(p, access, "tag", "delete"),
        edit_repository=can(p, access, "repository", "update"),
    )


async def load_project(
    session: AsyncSession, viewer: SignedIn, name: str
) -> tuple[Project, ProjectAccess]:
    """The project, when the viewer may read it; a 404 otherwise (its existence is private)."""
    project = await projects.get_project_by_name(session, name)
    if project is None:
        raise NotFound(f"There is no project named “{name}”.")
    access = await projects.project_access(session, viewer.principal, project)
    if not can(viewer.principal, access, "project", "read"):
        raise NotFound(f"There is no project named “{name}”.")
    return project, access


def refuse(access: ProjectAccess, what: str) -> Forbidden:
    return Forbidden(f"Your role in {access.name} does not allow you to {what}.")


async def project_list(request: Request) -> Response:
    viewer = require_viewer(request)
    search = request.query_params.get("q", "").strip()
    page = page_number(request)
    async with services(request).sessions() as session:
        rows, total = await projects.list_projects(
            session,
            viewer.principal,
            name=search or None,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        figures = await queries.project_figures(session, [p.id for p, _ in rows])
    return render(
        request,
        "projects.html",
        nav="projects",
        rows=[(p, role, figures[p.id]) for p, role in rows],
        search=search,
        pager=Pager(request, page, PAGE_SIZE, total),
    )


async def create_project(request: Request) -> Response:
    viewer = require_viewer(request)
    form = await checked_form(request)
    name = text_field(form, "name")
    public = form.get("public") in ("on", "true", "1")
    if not valid_project_name(name):
        return redirect(
            request,
            "/projects",
            error=f"“{name}” is not a valid project name: use lower case letters and digits, "
            "with single '.', '_' or '-' between them.",
        )
    async with services(request).sessions() as session:
        if await projects.get_project_by_name(session, name) is not None:
            return redirect(request, "/projects", error=f"A project named “{name}” already exists.")
        owner = await accounts.get_user(session, viewer.user_id)
        project = await projects.create_project(session, name=name, public=public, owner=owner)
        record(
            session,
            AuditEvent(
                viewer.username, CREATE, "project", name, origin(request), project_id=project.id
            ),
        )
        await session.commit()
    return redirect(request, f"/projects/{name}", notice=f"Project {name} was created.")


async def delete_project(request: Request) -> Response:
    viewer = require_viewer(request)
    name = request.path_params["project"]
    await checked_form(request)
    async with services(request).sessions() as session:
        project, access = await load_project(session, viewer, name)
        if not can(viewer.principal, access, "project", "delete"):
            raise refuse(access, "delete the project")
        count = await projects.repository_count(session, project.id)
        if count:
            return redirect(
                request,
                f"/projects/{name}/configuration",
                error=f"Project {name} still holds {count} "
                f"repositor{'y' if count == 1 else 'ies'}; delete them before the project.",
            )
        project_id = project.id
        await projects.delete_project(session, project)
        record(
            session,
            AuditEvent(
                viewer.username, DELETE, "project", name, origin(request), project_id=project_id
            ),
        )
        await session.commit()
    return redirect(request, "/projects", notice=f"Project {name} was deleted.")


async def repositories_tab(request: Request) -> Response:
    viewer = require_viewer(request)
    name = request.path_params["project"]
    search = request.query_params.get("q", "").strip()
    page = page_number(request)
    async with services(request).sessions() as session:
        project, access = await load_project(session, viewer, name)
        rows, total = await queries.repositories_of(
            session, project.id, name=search, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    return render(
        request,
        "project_repositories.html",
        nav="projects",
        tab="repositories",
        project=project,
        access=access,
        can=abilities(viewer, access),
        rows=rows,
        search=search,
        pager=Pager(request, page, PAGE_SIZE, total),
    )


async def members_tab(request: Request) -> Response:
    viewer = require_viewer(request)
    async with services(request).sessions() as session:
        project, access = await load_project(session, viewer, request.path_params["project"])
        if not can(viewer.principal, access, "member", "list"):
            raise refuse(access, "see its members")
        members = await projects.list_members(session, project.id)
    return render(
        request,
        "project_members.html",
        nav="projects",
        tab="members",
        project=project,
        access=access,
        can=abilities(viewer, access),
        members=members,
        roles=ROLE_CHOICES,
    )


def _role_from(value: str) -> Role | None:
    try:
        return Role.parse(value)
    except ValueError:
        return None


async def add_member(request: Request) -> Response:
    viewer = require_viewer(request)
    name = request.path_params["project"]
    form = await checked_form(request)
    back = f"/projects/{name}/members"
    async with services(request).sessions() as session:
        project, access = await load_project(session, viewer, name)
        if not can(viewer.principal, access, "member", "create"):
            raise refuse(access, "add members")
        username = text_field(form, "username")
        role = _role_from(text_field(form, "role"))
        if role is None:
            return redirect(request, back, error="Choose a role for the new member.")
        user = await accounts.get_user_by_name(session, username)
        if user is None:
            return redirect(request, back, error=f"There is no user named “{username}”.")
        if await projects.find_member(session, project.id, user.id) is not None:
            return redirect(request, back, error=f"{username} is already a member of {name}.")
        await projects.add_member(session, project.id, user.id, role)
        record(
            session,
            AuditEvent(
                viewer.username,
                CREATE,
                "member",
                f"{name}/{username}",
                origin(request),
                project_id=project.id,
                detail=f"role={role.label}",
            ),
        )
        await session.commit()
    return redirect(
        request,
        back,
        notice=f"{username} was added to {name} as {role.name.title().replace('_', ' ')}.",
    )


async def _last_admin(
    session: AsyncSession, viewer: SignedIn, project_id: int, role_id: int
) -> bool:
    """True when this change would leave the project without a project admin."""
    if role_id != Role.PROJECT_ADMIN or viewer.sysadmin:
        return False
    return await projects.count_project_admins(session, project_id) <= 1


async def change_member(request: Request) -> Response:
    viewer = require_viewer(request)
    name = request.path_params["project"]
    form = await checked_form(request)
    back = f"/projects/{name}/members"
    remove = request.url.path.endswith("/remove")
    async with services(request).sessions() as session:
        project, access = await load_project(session, viewer, name)
        action: Action = "delete" if remove else "update"
        if not can(viewer.principal, access, "member", action):
            raise refuse(access, "change members")
        mid = request.path_params["member"]
        member = await projects.get_member(session, project.id, int(mid))
        if member is None:
            raise NotFound("That member does not exist any more.")
        user = await accounts.get_user(session, member.user_id)
        username = user.username if user else "?"
        role = None if remove else _role_from(text_field(form, "role"))
        if not remove and role is None:
            return redirect(request, back, error="Choose a role.")
        if (remove or role != Role.PROJECT_ADMIN) and await _last_admin(
            session, viewer, project.id, member.role_id
        ):
            return redirect(
                request,
                back,
                error="The last project admin cannot be removed or demoted "
                "(a system administrator can).",
            )
        if remove:
            await projects.delete_member(session, member)
        else:
            assert role is not None
            await projects.update_member(session, member, role)
        record(
            session,
            AuditEvent(
                viewer.username,
                DELETE if remove else UPDATE,
                "member",
                f"{name}/{username}",
                origin(request),
                project_id=project.id,
                detail="" if role is None else f"role={role.label}",
            ),
        )
        await session.commit()
    notice = f"{username} was removed from {name}." if remove else f"{username}'s role was changed."
    return redirect(request, back, notice=notice)


async def logs_tab(request: Request) -> Response:
    viewer = require_viewer(request)
    page = page_number(request)
    async with services(request).sessions() as session:
        project, access = await load_project(session, viewer, request.path_params["project"])
        if not can(viewer.principal, access, "log", "list"):
            raise refuse(access, "read its logs")
        entries, total = await list_logs(
            session, project_id=project.id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    return render(
        request,
        "project_logs.html",
        nav="projects",
        tab="logs",
        project=project,
        access=access,
        can=abilities(viewer, access),
        entries=entries,
        pager=Pager(request, page, PAGE_SIZE, total),
    )


async def configuration_tab(request: Request) -> Response:
    viewer = require_viewer(request)
    async with services(request).sessions() as session:
        project, access = await load_project(session, viewer, request.path_params["project"])
        repository_count = await projects.repository_count(session, project.id)
    return render(
        request,
        "project_configuration.html",
        nav="projects",
        tab="configuration",
        project=project,
        access=access,
        can=abilities(viewer, access),
        repository_count=repository_count,
    )


async def update_configuration(request: Request) -> Response:
    viewer = require_viewer(request)
    name = request.path_params["project"]
    form = await checked_form(request)
    public = form.get("public") in ("on", "true", "1")
    async with services(request).sessions() as session:
        project, access = await load_project(session, viewer, name)
        if not can(viewer.principal, access, "project", "update"):
            raise refuse(access, "change its configuration")
        await projects.set_metadata(session, project, {"public": "true" if public else "false"})
        record(
            session,
            AuditEvent(
                viewer.username,
                UPDATE,
                "project",
                name,
                origin(request),
                project_id=project.id,
                detail=f"public={public}",
            ),
        )
        await session.commit()
    state = "public" if public else "private"
    return redirect(request, f"/projects/{name}/configuration", notice=f"{name} is now {state}.")


ROUTES = [
    Route("/projects", project_list, methods=["GET"]),
    Route("/projects", create_project, methods=["POST"]),
    Route("/projects/{project}", repositories_tab, methods=["GET"]),
    Route("/projects/{project}/delete", delete_project, methods=["POST"]),
    Route("/projects/{project}/members", members_tab, methods=["GET"]),
    Route("/projects/{project}/members", add_member, methods=["POST"]),
    Route("/projects/{project}/members/{member:int}/role", change_member, methods=["POST"]),
    Route("/projects/{project}/members/{member:int}/remove", change_member, methods=["POST"]),
    Route("/projects/{project}/logs", logs_tab, methods=["GET"]),
    Route("/projects/{project}/configuration", configuration_tab, methods=["GET"]),
    Route("/projects/{project}/configuration", update_configuration, methods=["POST"]),
]
