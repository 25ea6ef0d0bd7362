"""Finding the repository and artifact a ``/projects/{p}/repositories/{r}/...`` path names.

The order of checks is Harbor's: the project (404), then the caller's permission (401/403), then
the repository or artifact (404). A ``/`` in a repository name arrives double-encoded
(``a%252Fb``); the server decodes once, we decode the second time here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from harborlite.api.context import check, project_from_path
from harborlite.artifacts import queries as artifacts
from harborlite.auth.permissions import Action, Principal, ProjectAccess, Resource
from harborlite.db.models import Artifact, Project, Repository
from harborlite.errors import BadRequest, NotFound
from harborlite.oci.reference import is_digest


@dataclass(frozen=True)
class RepositoryPath:
    project: Project
    access: ProjectAccess
    short_name: str  # the name inside the project, as Harbor's path has it

    @property
    def full_name(self) -> str:
        return f"{self.project.name}/{self.short_name}"


def repository_name_of(request: Request) -> str:
    name = unquote(request.path_params["repository_name"])
    if not name or name.startswith("/") or name.endswith("/"):
        raise BadRequest(f"invalid repository name {name!r}")
    return name


async def repository_path(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    resource: Resource,
    action: Action,
) -> RepositoryPath:
    """The project (readable by the caller) and the repository name, after checking the action."""
    project, access = await project_from_path(request, session, principal, "project_name")
    check(principal, access, resource, action)
    return RepositoryPath(project, access, repository_name_of(request))


async def repository_of(session: AsyncSession, where: RepositoryPath) -> Repository:
    repository = await artifacts.get_repository(session, where.full_name)
    if repository is None or repository.project_id != where.project.id:
        raise NotFound(f"repository {where.full_name} not found")
    return repository


async def artifact_of(session: AsyncSession, repository: Repository, reference: str) -> Artifact:
    """The artifact a tag or digest names in ``repository``."""
    artifact: Artifact | None = None
    if is_digest(reference):
        artifact = await artifacts.get_artifact(session, repository.id, reference)
    elif ":" not in reference:
        tag = await artifacts.get_tag(session, repository.id, reference)
        if tag is not None:
            artifact = await artifacts.get_artifact_by_id(session, tag.artifact_id)
    else:
        raise BadRequest(f"{reference!r} is neither a tag nor a digest")
    if artifact is None:
        raise NotFound(f"artifact {repository.name}:{reference} not found")
    return artifact


def encode_repository(short_name: str) -> str:
    """How a repository name is written inside an API path (``a/b`` -> ``a%252Fb``)."""
    return short_name.replace("%", "%25").replace("/", "%252F")
