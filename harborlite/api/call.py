"""The request context of every REST handler: one session, the caller, what the path names.

``async with api_call(request) as call:`` opens the session, resolves the caller (HTTP Basic, or
the portal session the session middleware put in the scope) and commits when the block ends
without an error. Its loaders answer in Harbor's order: the project (404), then the caller's
permission (401 for anonymous callers, 403 for signed-in ones), then the repository or artifact
(404). Every permission goes through :mod:`harborlite.auth.permissions`.

A ``/`` in a repository name arrives double-encoded (``a%252Fb``): the server decodes once, the
loader the second time. ``X-Is-Resource-Name: true`` says a number in the path is a name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import unquote

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from harborlite.accounts.authentication import parse_basic
from harborlite.artifacts import queries as artifacts
from harborlite.artifacts import tags as tag_rows
from harborlite.audit.events import Actor, Origin
from harborlite.auth.permissions import (
    ANONYMOUS,
    Action,
    Need,
    Principal,
    ProjectAccess,
    SystemResource,
    can,
    system_can,
)
from harborlite.db.models import Artifact, Project, Repository
from harborlite.errors import BadRequest, Forbidden, HarborliteError, NotFound, Unauthorized
from harborlite.http.origin import origin_of as origin_of_scope
from harborlite.http.session_auth import principal_in
from harborlite.oci.reference import is_digest
from harborlite.projects import queries as projects
from harborlite.robots.authentication import sign_in
from harborlite.services import Services, services_of


def origin_of(request: Request) -> Origin:
    return origin_of_scope(request.scope)


def deny(principal: Principal, what: str) -> HarborliteError:
    """401 for anonymous callers, 403 for signed-in ones, as Harbor distinguishes them."""
    if principal.anonymous:
        return Unauthorized(f"authentication required to {what}")
    return Forbidden(f"{principal.username} is not allowed to {what}")


@dataclass(frozen=True)
class InProject:
    project: Project
    access: ProjectAccess


@dataclass(frozen=True)
class InRepository(InProject):
    short_name: str  # the name inside the project, as Harbor's path has it

    @property
    def full_name(self) -> str:
        return f"{self.project.name}/{self.short_name}"


@dataclass(frozen=True)
class FoundRepository(InRepository):
    repository: Repository


@dataclass(frozen=True)
class FoundArtifact(FoundRepository):
    artifact: Artifact


@dataclass
class ApiCall:
    request: Request
    services: Services
    session: AsyncSession
    principal: Principal

    @property
    def actor(self) -> Actor:
        """Who acts, for every audit entry the operations write."""
        return Actor(self.principal.username, origin_of(self.request))

    def require_login(self) -> None:
        if self.principal.anonymous:
            raise Unauthorized("authentication required")

    def require_system(self, resource: SystemResource, action: Action) -> None:
        """A system-level permission (users, global labels, the whole audit log)."""
        self.require_login()
        if not system_can(self.principal, resource, action):
            raise Forbidden("only system administrators may do this")

    def check(self, access: ProjectAccess, need: Need) -> None:
        resource, action = need
        if not can(self.principal, access, resource, action):
            raise deny(self.principal, f"{action} {resource} in project {access.name}")

    async def project(
        self, need: Need = ("project", "read"), key: str = "project_name_or_id"
    ) -> InProject:
        """The project the path names, when the caller may read it and has ``need`` in it."""
        ident = self.request.path_params[key]
        # ``{project_name}`` paths take a name only; ``{project_name_or_id}`` a number or a name
        by_name = key == "project_name" or (
            self.request.headers.get("x-is-resource-name", "").lower() == "true"
        )
        return await self.project_named(ident, need, by_name=by_name)

    async def project_named(
        self, ident: str, need: Need = ("project", "read"), *, by_name: bool = False
    ) -> InProject:
        """The project ``ident`` names (a number or a name), when the caller may read it and
        has ``need`` in it."""
        found = await self.find_project(ident, by_name=by_name)
        if not can(self.principal, found.access, "project", "read"):
            raise deny(self.principal, f"read project {found.project.name}")
        self.check(found.access, need)
        return found

    async def find_project(self, ident: str, *, by_name: bool = False) -> InProject:
        """The project ``ident`` names and the caller's access to it, checking nothing (404
        when there is none)."""
        project = None
        if ident.isdigit() and not by_name:
            project = await projects.get_project(self.session, int(ident))
        if project is None:
            project = await projects.get_project_by_name(self.session, ident)
        if project is None:
            raise NotFound(f"project {ident} not found")
        access = await projects.project_access(self.session, self.principal, project)
        return InProject(project, access)

    async def repository_path(self, need: Need) -> InRepository:
        """The project and the repository name of the path, the repository not looked up."""
        found = await self.project(("project", "read"), "project_name")
        self.check(found.access, need)
        name = unquote(self.request.path_params["repository_name"])
        if not name or name.startswith("/") or name.endswith("/"):
            raise BadRequest(f"invalid repository name {name!r}")
        return InRepository(found.project, found.access, name)

    async def repository(self, need: Need) -> FoundRepository:
        where = await self.repository_path(need)
        repository = await artifacts.get_repository(self.session, where.full_name)
        if repository is None or repository.project_id != where.project.id:
            raise NotFound(f"repository {where.full_name} not found")
        return FoundRepository(where.project, where.access, where.short_name, repository)

    async def artifact(self, need: Need, key: str = "reference") -> FoundArtifact:
        """The artifact a tag or digest of the path names."""
        found = await self.repository(need)
        artifact = await artifact_named(
            self.session, found.repository, self.request.path_params[key]
        )
        return FoundArtifact(
            found.project, found.access, found.short_name, found.repository, artifact
        )


async def artifact_named(session: AsyncSession, repository: Repository, reference: str) -> Artifact:
    """The artifact a tag or digest names in ``repository``."""
    artifact: Artifact | None = None
    if is_digest(reference):
        artifact = await artifacts.get_artifact(session, repository.id, reference)
    elif ":" not in reference:
        tag = await tag_rows.get_tag(session, repository.id, reference)
        if tag is not None:
            artifact = await artifacts.get_artifact_by_id(session, tag.artifact_id)
    else:
        raise BadRequest(f"{reference!r} is neither a tag nor a digest")
    if artifact is None:
        raise NotFound(f"artifact {repository.name}:{reference} not found")
    return artifact


async def caller(request: Request, session: AsyncSession) -> Principal:
    """The authenticated caller: HTTP Basic, or the portal session in the scope."""
    signed_in = principal_in(request.scope)
    if signed_in is not None:
        return signed_in
    basic = parse_basic(request.headers.get("authorization"))
    if basic is None:
        return ANONYMOUS
    services = services_of(request)
    username, password = basic
    signed = await sign_in(
        session,
        services.credentials,
        services.failures,
        username,
        password,
        origin_of(request),
        prefix=services.settings.robot_name_prefix,
        via="API",
    )
    if signed is None:
        raise Unauthorized("invalid username/password")
    return signed.principal


@asynccontextmanager
async def api_call(request: Request) -> AsyncIterator[ApiCall]:
    """One unit of work: committed when the block ends, rolled back when it raises."""
    services = services_of(request)
    async with services.sessions() as session:
        yield ApiCall(request, services, session, await caller(request, session))
        await session.commit()


def encode_repository(short_name: str) -> str:
    """How a repository name is written inside an API path (``a/b`` -> ``a%252Fb``)."""
    return short_name.replace("%", "%25").replace("/", "%252F")
