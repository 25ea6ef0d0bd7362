"""``.../artifacts/{reference}/labels``: attach a label to an artifact, and take it off.

As Harbor: ProjectAdmin, Maintainer and Developer may (``artifact-label`` create/delete); the
label must be global or belong to the artifact's project (400 otherwise); attaching a label the
artifact already carries is a conflict (409); taking off one it does not carry is 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.api.context import caller, json_body, origin, path_int
from harborlite.api.locate import artifact_of, repository_of, repository_path
from harborlite.audit.events import CREATE, DELETE, AuditEvent, record
from harborlite.errors import BadRequest, Conflict, NotFound
from harborlite.labels import queries as labels
from harborlite.labels.queries import PROJECT
from harborlite.services import services_of


async def add_label(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        path = await repository_path(request, session, principal, "artifact-label", "create")
        body = await json_body(request)
        label_id = body.get("id")
        if isinstance(label_id, bool) or not isinstance(label_id, int) or label_id <= 0:
            raise BadRequest('the label\'s id is required: {"id": N}')
        repository = await repository_of(session, path)
        artifact = await artifact_of(session, repository, request.path_params["reference"])
        label = await labels.get_label(session, label_id)
        if label is None:
            raise NotFound(f"label {label_id} not found")
        if label.scope == PROJECT and label.project_id != path.project.id:
            raise BadRequest(
                f"label {label.name} belongs to another project: only global labels and "
                f"labels of {path.project.name} can be added"
            )
        if await labels.find_attachment(session, artifact.id, label.id) is not None:
            raise Conflict(f"{repository.name}@{artifact.digest} already has label {label.name}")
        await labels.attach(session, artifact.id, label.id)
        record(
            session,
            AuditEvent(
                principal.username,
                CREATE,
                "artifact-label",
                f"{repository.name}@{artifact.digest}",
                origin(request),
                project_id=path.project.id,
                detail=f"label {label.id} {label.name}",
            ),
        )
        await session.commit()
    return Response(status_code=200)


async def remove_label(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        path = await repository_path(request, session, principal, "artifact-label", "delete")
        label_id = path_int(request, "label_id")
        repository = await repository_of(session, path)
        artifact = await artifact_of(session, repository, request.path_params["reference"])
        attachment = await labels.find_attachment(session, artifact.id, label_id)
        if attachment is None:
            raise NotFound(f"{repository.name}@{artifact.digest} has no label {label_id}")
        await labels.detach(session, attachment)
        record(
            session,
            AuditEvent(
                principal.username,
                DELETE,
                "artifact-label",
                f"{repository.name}@{artifact.digest}",
                origin(request),
                project_id=path.project.id,
                detail=f"label {label_id}",
            ),
        )
        await session.commit()
    return Response(status_code=200)


BASE = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/labels"

ROUTES = [
    Route(BASE, add_label, methods=["POST"]),
    Route(BASE + "/{label_id}", remove_label, methods=["DELETE"]),
]
