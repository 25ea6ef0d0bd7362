"""``/projects/{p}/repositories/{r}/artifacts``: list, read and delete artifacts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.call import api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, Term, conditions, flag, parse_sort, q_of
from harborlite.api.render import label_json
from harborlite.api.render_artifacts import accessory_json, artifact_json, is_index
from harborlite.artifacts import accessories, operations
from harborlite.artifacts import queries as artifacts
from harborlite.artifacts import tags as tag_rows
from harborlite.db.models import Artifact, Project
from harborlite.errors import BadRequest
from harborlite.events.bus import DELETE_ARTIFACT, ArtifactEvent
from harborlite.labels import queries as labels
from harborlite.scanning.queries import VULNERABILITY_REPORT, overviews_of

FIELDS = {
    "id": Field(Artifact.id, "int"),
    "digest": Field(Artifact.digest),
    "type": Field(Artifact.type),
    "media_type": Field(Artifact.media_type),
    "manifest_media_type": Field(Artifact.manifest_media_type),
    "size": Field(Artifact.size, "int"),
    "push_time": Field(Artifact.push_time, "time"),
    "pull_time": Field(Artifact.pull_time, "time"),
}
SPECIAL_KEYS = ("tags", "labels", "base")


async def render_many(
    session: AsyncSession,
    project: Project,
    repository_name: str,
    rows: list[Artifact],
    *,
    with_tag: bool,
    with_label: bool,
    with_accessory: bool = False,
    with_scan_overview: bool = False,
) -> list[dict[str, Any]]:
    """Artifacts with their tags, references (and labels, accessories, scan overviews): one
    query for each, whatever the page size (an index's overview: one more for its children)."""
    ids = [a.id for a in rows]
    linked = (
        await accessories.accessories_of(session, rows[0].repository_id, [a.digest for a in rows])
        if with_accessory and rows
        else {}
    )
    tags = await tag_rows.tags_for(session, ids, limit=tag_rows.INLINE_TAGS) if with_tag else {}
    attached = await labels.labels_for(session, ids) if with_label else {}
    references = await artifacts.references_for(session, [a.id for a in rows if is_index(a)])
    overviews = await overviews_of(session, [a.digest for a in rows]) if with_scan_overview else {}

    def scan_overview(artifact: Artifact) -> dict[str, Any] | None:
        if not with_scan_overview:
            return None
        overview = overviews.get(artifact.digest)
        return {VULNERABILITY_REPORT: overview.as_harbor()} if overview is not None else {}

    return [
        artifact_json(
            artifact,
            project_id=project.id,
            project_name=project.name,
            repository_name=repository_name,
            tags=tags.get(artifact.id, []) if with_tag else None,
            child_ids=references.get(artifact.id, {}),
            labels=[label_json(x) for x in attached.get(artifact.id, [])] if with_label else None,
            accessories=linked.get(artifact.digest, []),
            scan_overview=scan_overview(artifact),
        )
        for artifact in rows
    ]


def _label_ids(term: Term) -> list[int]:
    """``labels=(1 2)``: the artifacts carrying all of them; ``labels=1`` one label."""
    if term.kind not in ("all", "exact") or not term.values:
        raise BadRequest(
            'the value of "labels" can only be a list of label ids that must all match: '
            "labels=(1 2)"
        )
    ids = []
    for value in term.values:
        if not value or not value.isdigit():
            raise BadRequest(f"labels: {value!r} is not a label id")
        ids.append(int(value))
    return ids


def _special_conditions(
    request: Request,
) -> tuple[Callable[[int], list[ColumnElement[bool]]], bool]:
    """The query's conditions for the artifacts of a repository (by its id), and whether an
    index's children are listed; a malformed query is refused before anything is read."""
    terms = q_of(request)
    result = conditions(terms, FIELDS, handled=SPECIAL_KEYS)
    tagged: list[tuple[str, str]] = []
    include_children = False
    for term in terms:
        if term.key == "tags":
            if term.kind not in ("exact", "fuzzy"):
                raise BadRequest("tags supports tags=*, tags=nil, tags=v and tags=~v")
            tagged.append((term.kind, term.values[0] or ""))
        elif term.key == "labels":
            result.append(labels.carries_all(_label_ids(term)))
        elif term.key == "base":
            if term.kind != "exact" or term.values[0] != "*":
                raise BadRequest('the value of "base" can only be exactly "*"')
            include_children = True

    def where(repository_id: int) -> list[ColumnElement[bool]]:
        return result + [
            tag_rows.tag_condition(kind, value, repository_id) for kind, value in tagged
        ]

    return where, include_children


async def list_artifacts(request: Request) -> Response:
    page = page_of(request)
    where, include_children = _special_conditions(request)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    if order:
        order.append(Artifact.id.desc())
    with_tag = flag(request, "with_tag", True)
    with_label = flag(request, "with_label", False)
    with_accessory = flag(request, "with_accessory", False)
    with_scan_overview = flag(request, "with_scan_overview", False)
    async with api_call(request) as call:
        found = await call.repository(("artifact", "list"))
        rows, total = await artifacts.list_artifacts(
            call.session,
            found.repository.id,
            conditions=where(found.repository.id),
            include_children=include_children,
            order_by=order,
            offset=page.offset,
            limit=page.size,
        )
        items = await render_many(
            call.session,
            found.project,
            found.repository.name,
            rows,
            with_tag=with_tag,
            with_label=with_label,
            with_accessory=with_accessory,
            with_scan_overview=with_scan_overview,
        )
    return paged_response(request, list(items), total, page)


async def get_artifact(request: Request) -> Response:
    with_tag = flag(request, "with_tag", True)
    with_label = flag(request, "with_label", False)
    with_accessory = flag(request, "with_accessory", False)
    with_scan_overview = flag(request, "with_scan_overview", False)
    async with api_call(request) as call:
        found = await call.artifact(("artifact", "read"))
        (body,) = await render_many(
            call.session,
            found.project,
            found.repository.name,
            [found.artifact],
            with_tag=with_tag,
            with_label=with_label,
            with_accessory=with_accessory,
            with_scan_overview=with_scan_overview,
        )
    return JSONResponse(body)


async def delete_artifact(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.artifact(("artifact", "delete"))
        await operations.delete_artifact(
            call.session, call.services.upstream, found.repository, found.artifact, by=call.actor
        )
    call.services.events.emit(
        ArtifactEvent(
            DELETE_ARTIFACT,
            found.project.name,
            found.repository.name,
            found.artifact.digest,
            None,
            call.principal.username,
        )
    )
    return Response(status_code=200)


ACCESSORY_FIELDS = {
    "id": Field(Artifact.id, "int"),
    "digest": Field(Artifact.digest),
    "type": Field(Artifact.accessory_type),
    "size": Field(Artifact.size, "int"),
    "creation_time": Field(Artifact.push_time, "time"),
}


async def list_accessories(request: Request) -> Response:
    """Harbor's accessories of an artifact: its signatures, SBOMs and other referrers."""
    page = page_of(request)
    where = conditions(q_of(request), ACCESSORY_FIELDS)
    order = parse_sort(request.query_params.get("sort"), ACCESSORY_FIELDS, [])
    async with api_call(request) as call:
        found = await call.artifact(("artifact", "read"))
        rows, total = await accessories.list_accessories(
            call.session,
            found.repository.id,
            found.artifact.digest,
            conditions=where,
            order_by=order,
            offset=page.offset,
            limit=page.size,
        )
        items = [accessory_json(row, found.artifact, found.repository.name) for row in rows]
    return paged_response(request, items, total, page)


BASE = "/projects/{project_name}/repositories/{repository_name}/artifacts"

ROUTES = [
    Route(BASE, list_artifacts, methods=["GET"]),
    Route(BASE + "/{reference}", get_artifact, methods=["GET"]),
    Route(BASE + "/{reference}", delete_artifact, methods=["DELETE"]),
    Route(BASE + "/{reference}/accessories", list_accessories, methods=["GET"]),
]
