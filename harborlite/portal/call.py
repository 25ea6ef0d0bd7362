"""The request context of every portal page: the viewer, one session, what the path names.

``async with page_call(request) as call:`` requires a live session (a page without one
redirects to the login), opens the database session and commits when the block ends without an
error. The portal keeps a project's existence private: a project or repository the viewer may
not read answers 404, as one that does not exist. What the viewer may do is asked of
:mod:`harborlite.auth.permissions`, for refusing a request and for showing or hiding controls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse

from harborlite.artifacts import queries as artifacts
from harborlite.audit.events import Actor, Origin
from harborlite.auth.permissions import Action, Need, ProjectAccess, SystemResource, can, system_can
from harborlite.db.models import Project, Repository
from harborlite.errors import Forbidden, NotFound
from harborlite.http.origin import origin_of as origin_of_scope
from harborlite.portal.pages import render, require_viewer
from harborlite.projects import queries as projects
from harborlite.services import Services, services_of
from harborlite.sessions.store import SignedIn


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
    robots: bool
    policy: bool  # the Policy tab: immutability rules, or retention
    webhooks: bool  # the Webhooks tab


def origin_of(request: Request) -> Origin:
    return origin_of_scope(request.scope)


@dataclass
class PageCall:
    request: Request
    services: Services
    session: AsyncSession
    viewer: SignedIn

    @property
    def actor(self) -> Actor:
        return Actor(self.viewer.username, origin_of(self.request))

    def may(self, access: ProjectAccess, need: Need) -> bool:
        return can(self.viewer.principal, access, *need)

    def require(self, access: ProjectAccess, need: Need, what: str) -> None:
        """Refuse with the portal's sentence: "Your role in P does not allow you to <what>."""
        if not self.may(access, need):
            raise Forbidden(f"Your role in {access.name} does not allow you to {what}.")

    def require_system(self, resource: SystemResource, action: Action) -> None:
        if not system_can(self.viewer.principal, resource, action):
            raise Forbidden("This page is for system administrators.")

    def abilities(self, access: ProjectAccess) -> Abilities:
        return Abilities(
            update=self.may(access, ("project", "update")),
            delete=self.may(access, ("project", "delete")),
            members=self.may(access, ("member", "list")),
            manage_members=self.may(access, ("member", "create")),
            logs=self.may(access, ("log", "list")),
            push=self.may(access, ("repository", "push")),
            delete_artifacts=self.may(access, ("artifact", "delete")),
            delete_tags=self.may(access, ("tag", "delete")),
            edit_repository=self.may(access, ("repository", "update")),
            robots=self.may(access, ("robot", "list")),
            policy=self.may(access, ("immutable-tag", "list"))
            or self.may(access, ("tag-retention", "read")),
            webhooks=self.may(access, ("webhook-policy", "list")),
        )

    def project_tab(
        self, template: str, tab: str, project: Project, access: ProjectAccess, **context: Any
    ) -> HTMLResponse:
        """One of a project's tabs, with the project, the viewer's role and abilities."""
        return render(
            self.request,
            template,
            nav="projects",
            tab=tab,
            project=project,
            access=access,
            can=self.abilities(access),
            **context,
        )

    async def project(self, name: str) -> tuple[Project, ProjectAccess]:
        """The project, when the viewer may read it; a 404 otherwise (its existence is private)."""
        project = await projects.get_project_by_name(self.session, name)
        if project is None:
            raise NotFound(f"There is no project named “{name}”.")
        access = await projects.project_access(self.session, self.viewer.principal, project)
        if not can(self.viewer.principal, access, "project", "read"):
            raise NotFound(f"There is no project named “{name}”.")
        return project, access

    async def repository(self, name: str) -> tuple[Repository, Project, ProjectAccess]:
        """The repository, when the viewer may read it; a 404 otherwise."""
        missing = NotFound(f"There is no repository named “{name}”.")
        repository = await artifacts.get_repository(self.session, name)
        if repository is None:
            raise missing
        project = await projects.get_project(self.session, repository.project_id)
        if project is None:
            raise missing
        access = await projects.project_access(self.session, self.viewer.principal, project)
        if not can(self.viewer.principal, access, "repository", "read"):
            raise missing
        return repository, project, access


@asynccontextmanager
async def page_call(request: Request) -> AsyncIterator[PageCall]:
    """One unit of work for a signed-in viewer: committed when the block ends, else rolled back."""
    viewer = require_viewer(request)
    services = services_of(request)
    async with services.sessions() as session:
        yield PageCall(request, services, session, viewer)
        await session.commit()
