"""A project's Policy tab: its tag immutability rules (and, in a section of its own, its tag
retention).

Those who may list the rules (ProjectAdmins, Maintainers, system administrators) see them;
those who may also change them add, edit, enable, disable and delete them here. The rules, the
limits and the permissions are :mod:`harborlite.immutability.operations`'; the sentences and
the forms are the portal's.

Sections: the page's context is the union of what each function of :data:`SECTIONS` returns
for the viewer; ``project_policy.html`` includes one template per section
(``_immutable_rules.html``, ``_retention_rules.html``, then ``_vulnerability_policy.html``: the
project's ``prevent_vul``, ``severity``, ``auto_scan`` and CVE allowlist, from
:func:`harborlite.portal.scan_pages.vulnerability_section`). A section that is
not for the viewer's role returns its ``visible`` flag false.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.auth.permissions import Action, ProjectAccess
from harborlite.db.models import Project
from harborlite.errors import Conflict, Forbidden, HarborliteError, NotFound
from harborlite.immutability import operations
from harborlite.immutability import queries as rules
from harborlite.immutability.models import ImmutableRule
from harborlite.immutability.rules import (
    MAX_RULES,
    REPOSITORY_DECORATIONS,
    TAG_DECORATIONS,
    rule_from_json,
)
from harborlite.portal.account_pages import sentence
from harborlite.portal.call import PageCall, page_call
from harborlite.portal.pages import checked_form, redirect, text_field
from harborlite.portal.retention_pages import retention_section
from harborlite.portal.scan_pages import vulnerability_section

GONE = "That immutability rule does not exist any more."
TWICE = "The project has that immutability rule already."
ACTIONS = {"enable": "enabled", "disable": "disabled", "delete": "deleted"}
TAG_CHOICES = list(zip(TAG_DECORATIONS, ("matching", "excluding"), strict=True))
REPOSITORY_CHOICES = list(zip(REPOSITORY_DECORATIONS, ("matching", "excluding"), strict=True))


@dataclass(frozen=True)
class RuleRow:
    """A rule as the list shows it (and its edit form fills in)."""

    id: int
    disabled: bool
    repositories: list[tuple[str, str]]  # (decoration, pattern)
    tags: list[tuple[str, str]]
    description: str
    editable: bool  # one selector of each kind: the form can show it whole


@dataclass(frozen=True)
class ImmutabilitySection:
    visible: bool
    rules: list[RuleRow]
    create: bool
    update: bool
    delete: bool
    limit: int = MAX_RULES

    @property
    def full(self) -> bool:
        return len(self.rules) >= self.limit


def row_of(rule: ImmutableRule) -> RuleRow:
    spec = operations.spec_of(rule)
    return RuleRow(
        id=rule.id,
        disabled=rule.disabled,
        repositories=[(s.decoration, s.pattern) for s in spec.repository_selectors],
        tags=[(s.decoration, s.pattern) for s in spec.tag_selectors],
        description=spec.describe(),
        editable=len(spec.repository_selectors) == 1 and len(spec.tag_selectors) == 1,
    )


async def immutability_section(
    call: PageCall, project: Project, access: ProjectAccess
) -> dict[str, Any]:
    if not call.may(access, ("immutable-tag", "list")):
        return {"immutability": ImmutabilitySection(False, [], False, False, False)}
    rows, _ = await rules.list_rules(call.session, project.id, limit=MAX_RULES * 4)
    return {
        "immutability": ImmutabilitySection(
            visible=True,
            rules=[row_of(rule) for rule in rows],
            create=call.may(access, ("immutable-tag", "create")),
            update=call.may(access, ("immutable-tag", "update")),
            delete=call.may(access, ("immutable-tag", "delete")),
        ),
        "tag_choices": TAG_CHOICES,
        "repository_choices": REPOSITORY_CHOICES,
    }


Section = Callable[[PageCall, Project, ProjectAccess], Awaitable[dict[str, Any]]]
# Each section's context; a retention section adds its function here.
SECTIONS: list[Section] = [immutability_section, retention_section, vulnerability_section]


def may_see_policy(call: PageCall, access: ProjectAccess) -> bool:
    """Whether the viewer sees the Policy tab at all (some section is for them)."""
    return (
        call.may(access, ("immutable-tag", "list"))
        or call.may(access, ("tag-retention", "read"))
        or call.may(access, ("project", "update"))  # its vulnerability settings
    )


async def policy_tab(request: Request) -> Response:
    async with page_call(request) as call:
        project, access = await call.project(request.path_params["project"])
        if not may_see_policy(call, access):
            raise Forbidden(f"Your role in {access.name} does not allow you to see its policies.")
        context: dict[str, Any] = {}
        for section in SECTIONS:
            context.update(await section(call, project, access))
        return call.project_tab("project_policy.html", "policy", project, access, **context)


def _selector_json(form: FormData, prefix: str, choices: tuple[str, ...]) -> dict[str, str]:
    decoration = text_field(form, f"{prefix}_decoration")
    return {
        "kind": "doublestar",
        "decoration": decoration if decoration in choices else choices[0],
        "pattern": text_field(form, f"{prefix}_pattern"),
    }


def _rule_json(form: FormData, disabled: bool) -> dict[str, Any]:
    """Harbor's ``ImmutableRule`` from the form's two selectors."""
    return {
        "disabled": disabled,
        "tag_selectors": [_selector_json(form, "tag", TAG_DECORATIONS)],
        "scope_selectors": {"repository": [_selector_json(form, "repo", REPOSITORY_DECORATIONS)]},
    }


def _back(name: str) -> str:
    return f"/projects/{name}/policy"


async def add_rule(request: Request) -> Response:
    name = request.path_params["project"]
    async with page_call(request) as call:
        form = await checked_form(request)
        _, access = await call.project(name)
        call.require(access, ("immutable-tag", "create"), "add immutability rules")
        try:
            spec = rule_from_json(_rule_json(form, disabled=False))
            await operations.create_rule(
                call.session, call.viewer.principal, access, spec, by=call.actor
            )
        except Conflict:
            return redirect(request, _back(name), error=TWICE)
        except HarborliteError as error:
            return redirect(request, _back(name), error=sentence(error))
    return redirect(request, _back(name), notice=f"Immutable from now on: {spec.describe()}.")


async def _rule(call: PageCall, project: Project) -> ImmutableRule:
    rule_id = int(call.request.path_params["rule"])
    rule = await rules.get_rule(call.session, rule_id) if rule_id < 2**31 else None
    if rule is None or rule.project_id != project.id:
        raise NotFound(GONE)
    return rule


async def edit_rule(request: Request) -> Response:
    name = request.path_params["project"]
    async with page_call(request) as call:
        form = await checked_form(request)
        project, access = await call.project(name)
        call.require(access, ("immutable-tag", "update"), "change immutability rules")
        rule = await _rule(call, project)
        try:
            spec = rule_from_json(_rule_json(form, disabled=rule.disabled))
            await operations.update_rule(
                call.session, call.viewer.principal, access, rule, spec, by=call.actor
            )
        except Conflict:
            return redirect(request, _back(name), error=TWICE)
        except HarborliteError as error:
            return redirect(request, _back(name), error=sentence(error))
    return redirect(
        request, _back(name), notice=f"Rule {rule.id} now makes {spec.describe()} immutable."
    )


async def change_rule(request: Request) -> Response:
    name = request.path_params["project"]
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise NotFound(f"There is nothing to {action} here.")
    async with page_call(request) as call:
        await checked_form(request)
        project, access = await call.project(name)
        wanted: Action = "delete" if action == "delete" else "update"
        call.require(access, ("immutable-tag", wanted), "change immutability rules")
        rule = await _rule(call, project)
        rule_id = rule.id
        if action == "delete":
            await operations.delete_rule(
                call.session, call.viewer.principal, access, rule, by=call.actor
            )
        else:
            await operations.set_disabled(
                call.session,
                call.viewer.principal,
                access,
                rule,
                action == "disable",
                by=call.actor,
            )
    return redirect(request, _back(name), notice=f"Rule {rule_id} is {ACTIONS[action]}.")


BASE = "/projects/{project}/policy"

ROUTES = [
    Route(BASE, policy_tab, methods=["GET"]),
    Route(BASE + "/immutability", add_rule, methods=["POST"]),
    Route(BASE + "/immutability/{rule:int}/edit", edit_rule, methods=["POST"]),
    Route(
        BASE + "/immutability/{rule:int}/{action:str}",
        change_rule,
        methods=["POST"],
    ),
]
