"""Administration > Replications, for system administrators: the policies (create, edit with
filters and trigger, delete, run now), their executions with tasks, and each task's log.

The use cases are the domain's (:mod:`harborlite.replication.operations`; the form becomes the
body the API takes, checked by :func:`harborlite.replication.policy.spec_of`, so a refusal
reads as the API's); the forms and sentences are the portal's.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from harborlite.auth.permissions import Action
from harborlite.endpoints import queries as endpoints
from harborlite.endpoints.models import Registry
from harborlite.errors import HarborliteError
from harborlite.jobs import operations as jobs
from harborlite.portal.account_pages import sentence
from harborlite.portal.call import PageCall, page_call
from harborlite.portal.pages import checked_form, redirect, render, text_field
from harborlite.replication import operations as replication
from harborlite.replication.models import ReplicationPolicy
from harborlite.replication.policy import spec_of

BACK = "/admin/replications"
FLATTENING = {
    "-1": "Flatten all levels but the last (legacy)",
    "0": "No flattening",
    "1": "Flatten 1 level",
    "2": "Flatten 2 levels",
    "3": "Flatten 3 levels",
}
TRIGGERS = {"manual": "Manual", "scheduled": "Scheduled", "event_based": "Event based"}


def _admin(call: PageCall, action: Action) -> None:
    call.require_system("replication", action)


def _wake(call: PageCall) -> None:
    if call.services.jobs is not None:
        call.services.jobs.wakeup.set()


def _number(text: str, default: int) -> int | str:
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        return text  # refused with the domain's sentence


def body_of(form: FormData) -> dict[str, Any]:
    """The form as the API's body."""
    registry = _number(text_field(form, "registry_id"), 0)
    side = {"id": registry} if registry else None
    pull = text_field(form, "mode") == "pull"
    filters: list[dict[str, Any]] = []
    if name := text_field(form, "filter_name"):
        filters.append({"type": "name", "value": name})
    if tag := text_field(form, "filter_tag"):
        decoration = text_field(form, "tag_decoration", default="matches")
        filters.append({"type": "tag", "value": tag, "decoration": decoration})
    labels = [label.strip() for label in text_field(form, "filter_label").split(",")]
    if labels := [label for label in labels if label]:
        decoration = text_field(form, "label_decoration", default="matches")
        filters.append({"type": "label", "value": labels, "decoration": decoration})
    if resource := text_field(form, "filter_resource"):
        filters.append({"type": "resource", "value": resource})
    trigger = text_field(form, "trigger", default="manual")
    return {
        "name": text_field(form, "name"),
        "description": text_field(form, "description"),
        "src_registry": side if pull else None,
        "dest_registry": None if pull else side,
        "dest_namespace": text_field(form, "dest_namespace"),
        "dest_namespace_replace_count": _number(text_field(form, "replace_count"), -1),
        "filters": filters,
        "trigger": {"type": trigger, "trigger_settings": {"cron": text_field(form, "cron")}},
        "override": form.get("override") in ("on", "true"),
        "enabled": form.get("enabled") in ("on", "true"),
        "replicate_deletion": form.get("replicate_deletion") in ("on", "true"),
        "single_active_replication": form.get("single_active") in ("on", "true"),
        "speed": _number(text_field(form, "speed"), -1),
    }


def form_of(policy: ReplicationPolicy) -> dict[str, Any]:
    """What the edit form shows for ``policy``."""
    shown: dict[str, Any] = {
        "mode": "pull" if policy.src_registry_id else "push",
        "registry_id": policy.src_registry_id or policy.dest_registry_id,
        "trigger": policy.trigger.get("type", "manual"),
        "cron": policy.trigger.get("trigger_settings", {}).get("cron", ""),
        "filter_name": "",
        "filter_tag": "",
        "tag_decoration": "matches",
        "filter_label": "",
        "label_decoration": "matches",
        "filter_resource": "",
    }
    for item in policy.filters:
        if item["type"] == "name":
            shown["filter_name"] = item["value"]
        elif item["type"] == "tag":
            shown["filter_tag"] = item["value"]
            shown["tag_decoration"] = item.get("decoration", "matches")
        elif item["type"] == "label":
            shown["filter_label"] = ", ".join(item["value"])
            shown["label_decoration"] = item.get("decoration", "matches")
        elif item["type"] == "resource":
            shown["filter_resource"] = item["value"]
    return shown


async def _registries(call: PageCall) -> dict[int, Registry]:
    rows, _ = await endpoints.list_registries(call.session, offset=0, limit=1000)
    return {row.id: row for row in rows}


async def replications_page(request: Request) -> Response:
    chosen = request.query_params.get("policy")
    policy_id = int(chosen) if chosen and chosen.isdigit() else None
    async with page_call(request) as call:
        _admin(call, "list")
        policies, _ = await replication.list_policies(call.session, offset=0, limit=100)
        runs, _ = await replication.list_executions(
            call.session, policy_id=policy_id, offset=0, limit=20
        )
        counts = {run.id: await replication.task_counts(call.session, run.id) for run in runs}
        registries = await _registries(call)
    names = {policy.id: policy.name for policy in policies}
    return render(
        request,
        "admin_replications.html",
        nav="admin",
        admin_tab="replications",
        view="list",
        policies=policies,
        runs=runs,
        counts=counts,
        names=names,
        chosen=policy_id,
        registries=registries,
        flattening=FLATTENING,
        triggers=TRIGGERS,
        statuses=replication.HARBOR_STATUS,
        harbor_triggers=replication.HARBOR_TRIGGERS,
        shown=None,
    )


async def create(request: Request) -> Response:
    async with page_call(request) as call:
        _admin(call, "create")
        form = await checked_form(request)
        try:
            policy = await replication.create_policy(
                call.session, spec_of(body_of(form)), call.viewer.username
            )
        except HarborliteError as error:
            return redirect(request, BACK, error=sentence(error))
        name = policy.name
    return redirect(request, BACK, notice=f"Replication policy {name} created.")


async def edit_page(request: Request) -> Response:
    async with page_call(request) as call:
        _admin(call, "read")
        policy = await replication.get_policy(call.session, int(request.path_params["id"]))
        registries = await _registries(call)
    return render(
        request,
        "admin_replications.html",
        nav="admin",
        admin_tab="replications",
        view="edit",
        policy=policy,
        shown=form_of(policy),
        registries=registries,
        flattening=FLATTENING,
        triggers=TRIGGERS,
    )


async def update(request: Request) -> Response:
    policy_id = int(request.path_params["id"])
    async with page_call(request) as call:
        _admin(call, "update")
        form = await checked_form(request)
        try:
            policy = await replication.get_policy(call.session, policy_id)
            await replication.update_policy(call.session, policy, spec_of(body_of(form)))
        except HarborliteError as error:
            return redirect(request, f"{BACK}/{policy_id}", error=sentence(error))
        name = policy.name
    return redirect(request, BACK, notice=f"Replication policy {name} saved.")


async def run_now(request: Request) -> Response:
    policy_id = int(request.path_params["id"])
    async with page_call(request) as call:
        _admin(call, "create")
        await checked_form(request)
        try:
            policy = await replication.get_policy(call.session, policy_id)
            execution = await replication.start_execution(
                call.session, policy, "manual", by=call.viewer.username
            )
        except HarborliteError as error:
            return redirect(request, BACK, error=sentence(error))
        assert execution is not None
        execution_id, name = execution.id, policy.name
    _wake(call)
    return redirect(
        request,
        f"{BACK}/executions/{execution_id}",
        notice=f"Replication of {name} started.",
    )


async def delete(request: Request) -> Response:
    policy_id = int(request.path_params["id"])
    async with page_call(request) as call:
        _admin(call, "delete")
        await checked_form(request)
        try:
            policy = await replication.get_policy(call.session, policy_id)
            name = policy.name
            await replication.delete_policy(call.session, policy)
        except HarborliteError as error:
            return redirect(request, BACK, error=sentence(error))
    return redirect(request, BACK, notice=f"Replication policy {name} deleted.")


async def execution_page(request: Request) -> Response:
    async with page_call(request) as call:
        _admin(call, "read")
        execution = await replication.get_execution(call.session, int(request.path_params["id"]))
        tasks, _ = await replication.tasks_of(call.session, execution.id, limit=500)
        counts = await replication.task_counts(call.session, execution.id)
        policy = await call.session.get(
            ReplicationPolicy, int(execution.parameters.get("policy_id", 0))
        )
    return render(
        request,
        "admin_replications_execution.html",
        nav="admin",
        admin_tab="replications",
        execution=execution,
        tasks=tasks,
        counts=counts,
        policy=policy,
        run_status=replication.HARBOR_STATUS.get(execution.status, execution.status),
        trigger=replication.HARBOR_TRIGGERS.get(execution.trigger, "manual"),
    )


async def stop(request: Request) -> Response:
    execution_id = int(request.path_params["id"])
    back = f"{BACK}/executions/{execution_id}"
    async with page_call(request) as call:
        _admin(call, "stop")
        await checked_form(request)
        try:
            execution = await replication.get_execution(call.session, execution_id)
            await jobs.stop(call.session, execution)
        except HarborliteError as error:
            return redirect(request, back, error=sentence(error))
    return redirect(request, back, notice=f"Execution {execution_id} is stopping.")


async def task_log(request: Request) -> Response:
    async with page_call(request) as call:
        _admin(call, "read")
        execution = await replication.get_execution(call.session, int(request.path_params["id"]))
        task = await replication.get_task(
            call.session, execution.id, int(request.path_params["task_id"])
        )
        text = task.log
    return PlainTextResponse(text)


ROUTES = [
    Route("/admin/replications", replications_page, methods=["GET"]),
    Route("/admin/replications", create, methods=["POST"]),
    Route("/admin/replications/{id:int}", edit_page, methods=["GET"]),
    Route("/admin/replications/{id:int}", update, methods=["POST"]),
    Route("/admin/replications/{id:int}/run", run_now, methods=["POST"]),
    Route("/admin/replications/{id:int}/delete", delete, methods=["POST"]),
    Route("/admin/replications/executions/{id:int}", execution_page, methods=["GET"]),
    Route("/admin/replications/executions/{id:int}/stop", stop, methods=["POST"]),
    Route(
        "/admin/replications/executions/{id:int}/tasks/{task_id:int}/log",
        task_log,
        methods=["GET"],
    ),
]
