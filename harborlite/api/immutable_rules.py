"""``/projects/{project_name_or_id}/immutabletagrules``: Harbor's tag immutability rules.

List (paged, ``q``/``sort`` on ``id``, ``priority``, ``disabled``), create (201 with
``Location``), update and delete a project's rules; the rules and who may change them are
:mod:`harborlite.immutability.operations`' (ProjectAdmin and Maintainer, as Harbor). The
answers are Harbor's ``ImmutableRule``: ``id, priority, disabled, action, template, params,
tag_selectors, scope_selectors`` (Harbor's swagger has no ``project_id``, nor do its answers).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.api.body import json_body, path_int
from harborlite.api.call import ApiCall, InProject, api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, conditions, parse_sort, q_of
from harborlite.errors import BadRequest, NotFound
from harborlite.immutability import operations
from harborlite.immutability import queries as rules
from harborlite.immutability.models import ImmutableRule
from harborlite.immutability.rules import rule_from_json

FIELDS = {
    "id": Field(ImmutableRule.id, "int"),
    "priority": Field(ImmutableRule.priority, "int"),
    "disabled": Field(ImmutableRule.disabled, "bool"),
}
MISMATCH = "the immutable_rule_id doesn't match the id in the payload body of ImmutableRule"


def rule_json(rule: ImmutableRule) -> dict[str, Any]:
    """Harbor's ``ImmutableRule``."""
    return {
        "id": rule.id,
        "priority": rule.priority,
        "disabled": rule.disabled,
        "action": rule.action,
        "template": rule.template,
        "params": dict(rule.params or {}),
        "tag_selectors": list(rule.tag_selectors or []),
        "scope_selectors": dict(rule.scope_selectors or {}),
    }


async def _rule_in_path(call: ApiCall, found: InProject) -> ImmutableRule:
    """The rule the path names, when it belongs to the project (404 otherwise, as Harbor)."""
    rule_id = path_int(call.request, "immutable_rule_id")
    rule = await rules.get_rule(call.session, rule_id) if rule_id < 2**31 else None
    if rule is None or rule.project_id != found.project.id:
        raise NotFound(f"immutable rule {rule_id} not found in project {found.project.name}")
    return rule


async def list_rules(request: Request) -> Response:
    page = page_of(request)
    where = conditions(q_of(request), FIELDS)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    async with api_call(request) as call:
        found = await call.project(("immutable-tag", "list"))
        rows, total = await rules.list_rules(
            call.session,
            found.project.id,
            conditions=where,
            order_by=order,
            offset=page.offset,
            limit=page.size,
        )
    return paged_response(request, [rule_json(rule) for rule in rows], total, page)


async def create_rule(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("immutable-tag", "create"))
        spec = rule_from_json(await json_body(request))
        rule = await operations.create_rule(
            call.session, call.principal, found.access, spec, by=call.actor
        )
        location = f"{request.url.path.rstrip('/')}/{rule.id}"
    return Response(status_code=201, headers={"Location": location})


async def update_rule(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("immutable-tag", "update"))
        rule = await _rule_in_path(call, found)
        body = await json_body(request)
        given = body.get("id")
        if given is not None and given != rule.id:
            raise BadRequest(MISMATCH)
        spec = rule_from_json(body)
        await operations.update_rule(
            call.session, call.principal, found.access, rule, spec, by=call.actor
        )
    return Response(status_code=200)


async def delete_rule(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("immutable-tag", "delete"))
        rule = await _rule_in_path(call, found)
        await operations.delete_rule(
            call.session, call.principal, found.access, rule, by=call.actor
        )
    return Response(status_code=200)


BASE = "/projects/{project_name_or_id}/immutabletagrules"

ROUTES = [
    Route(BASE, list_rules, methods=["GET"]),
    Route(BASE, create_rule, methods=["POST"]),
    Route(BASE + "/{immutable_rule_id}", update_rule, methods=["PUT"]),
    Route(BASE + "/{immutable_rule_id}", delete_rule, methods=["DELETE"]),
]
