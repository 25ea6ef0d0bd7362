"""``.../artifacts/{reference}/labels``: attach a label to an artifact, and take it off.

As Harbor: ProjectAdmin, Maintainer and Developer may (``artifact-label`` create/delete); the
label must be global or belong to the artifact's project (400 otherwise); attaching a label the
artifact already carries is a conflict (409); taking off one it does not carry is 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.api.body import json_body, path_int
from harborlite.api.call import api_call
from harborlite.api.query import MAX_INT
from harborlite.audit.events import CREATE, DELETE, record
from harborlite.errors import BadRequest, Conflict, NotFound
from harborlite.labels import queries as labels
from harborlite.labels.queries import PROJECT


async def add_label(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.artifact(("artifact-label", "create"))
        repository, artifact = found.repository, found.artifact
        label_id = (await json_body(request)).get("id")
        if isinstance(label_id, bool) or not isinstance(label_id, int) or label_id <= 0:
            raise BadRequest('the label\'s id is required: {"id": N}')
        # an id past the database's integer columns names no label
        label = await labels.get_label(call.session, label_id) if label_id <= MAX_INT else None
        if label is None:
            raise NotFound(f"label {label_id} not found")
        if label.scope == PROJECT and label.project_id != found.project.id:
            raise BadRequest(
                f"label {label.name} belongs to another project: only global labels and "
                f"labels of {found.project.name} can be added"
            )
        if await labels.find_attachment(call.session, artifact.id, label.id) is not None:
            raise Conflict(f"{repository.name}@{artifact.digest} already has label {label.name}")
        await labels.attach(call.session, artifact.id, label.id)
        record(
            call.session,
            call.actor.event(
                CREATE,
                "artifact-label",
                f"{repository.name}@{artifact.digest}",
                project_id=found.project.id,
                detail=f"label {label.id} {label.name}",
            ),
        )
    return Response(status_code=200)


async def remove_label(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.artifact(("artifact-label", "delete"))
        label_id = path_int(request, "label_id")
        repository, artifact = found.repository, found.artifact
        attachment = await labels.find_attachment(call.session, artifact.id, label_id)
        if attachment is None:
            raise NotFound(f"{repository.name}@{artifact.digest} has no label {label_id}")
        await labels.detach(call.session, attachment)
        record(
            call.session,
            call.actor.event(
                DELETE,
                "artifact-label",
                f"{repository.name}@{artifact.digest}",
                project_id=found.project.id,
                detail=f"label {label_id}",
            ),
        )
    return Response(status_code=200)


BASE = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/labels"

ROUTES = [
    Route(BASE, add_label, methods=["POST"]),
    Route(BASE + "/{label_id}", remove_label, methods=["DELETE"]),
]
