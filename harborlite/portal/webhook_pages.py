"""A project's Webhooks tab: its policies (create, edit, enable or disable, delete) and the
latest deliveries with their response code and time. ProjectAdmins change policies,
Maintainers read them (:mod:`harborlite.auth.permissions`); the rules and messages are the
domain's (:mod:`harborlite.webhooks`). A new signing secret is shown once, in the answer to the
form that made it (or to "New secret"), never in a redirect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.auth.permissions import Action, ProjectAccess
from harborlite.db.models import Project
from harborlite.errors import HarborliteError, NotFound
from harborlite.portal.account_pages import sentence
from harborlite.portal.call import PageCall, page_call
from harborlite.portal.pages import checked_form, redirect, text_field
from harborlite.webhooks import operations
from harborlite.webhooks.events import CLOUD_EVENTS, DEFAULT_FORMAT, EVENT_TYPES, SLACK
from harborlite.webhooks.models import WebhookPolicy
from harborlite.webhooks.policy import parse_policy

ACTIONS = ("enable", "disable", "delete", "secret")


@dataclass(frozen=True)
class Shown:
    """A signing secret shown once."""

    policy: str
    secret: str


def _body_of(form: FormData) -> dict[str, Any]:
    """The form as the API's policy body, so the same checks and messages apply."""
    kind = text_field(form, "type", default="http")
    target: dict[str, Any] = {
        "type": kind,
        "address": text_field(form, "address"),
        "auth_header": text_field(form, "auth_header"),
        "skip_cert_verify": form.get("skip_cert_verify") in ("on", "true", "1"),
    }
    if kind != SLACK:
        target["payload_format"] = text_field(form, "payload_format", default=DEFAULT_FORMAT)
    return {
        "name": text_field(form, "name"),
        "description": text_field(form, "description"),
        "enabled": form.get("enabled", "on") in ("on", "true", "1"),
        "event_types": [v for v in form.getlist("event_types") if isinstance(v, str)],
        "targets": [target],
    }


async def _page(
    call: PageCall,
    project: Project,
    access: ProjectAccess,
    shown: Shown | None = None,
    status: int = 200,
) -> Response:
    policies, _ = await operations.list_policies(call.session, project.id, limit=100)
    deliveries = await operations.recent_tasks(call.session, project.id, limit=20)
    response = call.project_tab(
        "project_webhooks.html",
        "webhooks",
        project,
        access,
        policies=policies,
        deliveries=deliveries,
        event_types=EVENT_TYPES,
        formats=(DEFAULT_FORMAT, CLOUD_EVENTS),
        manage=call.may(access, ("webhook-policy", "update")),
        create=call.may(access, ("webhook-policy", "create")),
        shown=shown,
    )
    response.status_code = status
    return response


async def webhooks_tab(request: Request) -> Response:
    async with page_call(request) as call:
        project, access = await call.project(request.path_params["project"])
        call.require(access, ("webhook-policy", "list"), "see its webhooks")
        response = await _page(call, project, access)
    return response


async def create_webhook(request: Request) -> Response:
    name = request.path_params["project"]
    back = f"/projects/{name}/webhooks"
    async with page_call(request) as call:
        form = await checked_form(request)
        project, access = await call.project(name)
        call.require(access, ("webhook-policy", "create"), "create webhooks")
        try:
            fields = parse_policy(_body_of(form))
            row = await operations.create_policy(call.session, project, fields, by=call.actor)
        except HarborliteError as error:
            return redirect(request, back, error=sentence(error))
        response = await _page(call, project, access, Shown(row.name, row.secret), status=201)
    return response


async def _policy(call: PageCall, project: Project) -> WebhookPolicy:
    raw = call.request.path_params["policy"]
    if not raw.isdigit() or len(raw) > 12:
        raise NotFound("That webhook does not exist any more.")
    try:
        return await operations.get_policy(call.session, project, int(raw))
    except NotFound:
        raise NotFound("That webhook does not exist any more.") from None


async def edit_webhook(request: Request) -> Response:
    name = request.path_params["project"]
    back = f"/projects/{name}/webhooks"
    async with page_call(request) as call:
        form = await checked_form(request)
        project, access = await call.project(name)
        call.require(access, ("webhook-policy", "update"), "change webhooks")
        row = await _policy(call, project)
        try:
            fields = parse_policy(_body_of(form))
            await operations.update_policy(call.session, row, fields, by=call.actor)
        except HarborliteError as error:
            return redirect(request, back, error=sentence(error))
    return redirect(request, back, notice=f"The webhook {fields.name} was saved.")


async def change_webhook(request: Request) -> Response:
    name, action = request.path_params["project"], request.path_params["action"]
    back = f"/projects/{name}/webhooks"
    if action not in ACTIONS:
        raise NotFound("No such action.")
    async with page_call(request) as call:
        await checked_form(request)
        project, access = await call.project(name)
        need: Action = "delete" if action == "delete" else "update"
        call.require(access, ("webhook-policy", need), "change webhooks")
        row = await _policy(call, project)
        if action == "secret":
            secret = await operations.rotate_secret(call.session, row, by=call.actor)
            return await _page(call, project, access, Shown(row.name, secret))
        if action == "delete":
            await operations.delete_policy(call.session, row, by=call.actor)
            notice = f"The webhook {row.name} was deleted."
        else:
            await operations.set_enabled(call.session, row, action == "enable", by=call.actor)
            notice = f"The webhook {row.name} is {action}d."
    return redirect(request, back, notice=notice)


ROUTES = [
    Route("/projects/{project}/webhooks", webhooks_tab, methods=["GET"]),
    Route("/projects/{project}/webhooks", create_webhook, methods=["POST"]),
    Route("/projects/{project}/webhooks/{policy}/edit", edit_webhook, methods=["POST"]),
    Route("/projects/{project}/webhooks/{policy}/{action}", change_webhook, methods=["POST"]),
]
