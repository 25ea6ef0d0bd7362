"""The Policy tab's tag retention section: the project's retention rules, its schedule, runs
(for real or dry) and their history with each repository's log.

:func:`retention_section` gives ``_retention_rules.html`` its context (``retention``, a
:class:`RetentionSection`); the forms post to :data:`ROUTES`, which change the policy through
:mod:`harborlite.retention.operations` (the first rule added creates the project's policy) and
come back to the Policy tab. Who may: ``tag-retention`` in the project (ProjectAdmins,
Maintainers, Developers and system administrators), as the REST API.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from harborlite.auth.permissions import ProjectAccess
from harborlite.db.models import JobExecution, Project
from harborlite.errors import HarborliteError, NotFound
from harborlite.jobs import operations as jobs
from harborlite.jobs.schedules import PRESETS
from harborlite.portal.account_pages import sentence
from harborlite.portal.call import PageCall, page_call
from harborlite.portal.pages import checked_form, redirect, text_field
from harborlite.retention import operations
from harborlite.retention.models import RetentionPolicy
from harborlite.retention.policy import MAX_RULES, cron_of_row, parse_policy, rules_of
from harborlite.retention.rules import (
    EXCLUDES,
    MATCHES,
    REPO_EXCLUDES,
    REPO_MATCHES,
    TEMPLATES,
)

HISTORY = 10  # runs the section lists
SCHEDULES = ("None", "Hourly", "Daily", "Weekly", "Custom")
TEMPLATE_CHOICES = [(template, text, unit) for template, (text, unit) in TEMPLATES.items()]


@dataclass(frozen=True)
class RuleRow:
    number: int  # its position, from 1
    disabled: bool
    description: str


@dataclass(frozen=True)
class TaskRow:
    id: int
    repository: str
    status: str
    total: int
    retained: int


@dataclass(frozen=True)
class RunRow:
    id: int
    dry_run: bool
    trigger: str
    status: str
    start_time: datetime | None
    end_time: datetime | None
    tasks: list[TaskRow]

    @property
    def finished(self) -> bool:
        return self.status in jobs.DONE

    @property
    def total(self) -> int:
        return sum(t.total for t in self.tasks)

    @property
    def removed(self) -> int:
        return sum(t.total - t.retained for t in self.tasks)


@dataclass(frozen=True)
class RetentionSection:
    visible: bool
    policy_id: int | None = None
    rules: tuple[RuleRow, ...] = ()
    cron: str = ""
    schedule: str = "None"
    next_run: datetime | None = None
    runs: tuple[RunRow, ...] = ()
    total_runs: int = 0
    change: bool = False  # add, change and delete rules, set the schedule
    run: bool = False  # run now, stop a run
    limit: int = MAX_RULES
    templates: tuple[tuple[str, str, str | None], ...] = tuple(TEMPLATE_CHOICES)

    @property
    def full(self) -> bool:
        return len(self.rules) >= self.limit

    @property
    def busy(self) -> bool:
        return any(not run.finished for run in self.runs)


def _run_row(execution: JobExecution) -> RunRow:
    tasks = [
        TaskRow(t.id, t.repository, t.status, t.total, t.retained)
        for t in operations.tasks_of(execution)
    ]
    return RunRow(
        execution.id,
        operations.dry_run_of(execution),
        execution.trigger,
        execution.status,
        execution.start_time,
        execution.end_time,
        tasks,
    )


async def retention_section(
    call: PageCall, project: Project, access: ProjectAccess
) -> dict[str, Any]:
    """The section's context (``policy_pages.SECTIONS`` calls it for the Policy tab)."""
    if not call.may(access, ("tag-retention", "read")):
        return {"retention": RetentionSection(False)}
    change = call.may(access, ("tag-retention", "update"))
    run = call.may(access, ("tag-retention", "update"))
    row = await operations.policy_of_project(call.session, project.id)
    if row is None:
        return {"retention": RetentionSection(True, change=change, run=run)}
    rules = [RuleRow(n + 1, rule.disabled, rule.describe()) for n, rule in enumerate(rules_of(row))]
    schedule = await jobs.get_schedule(call.session, operations.RETENTION, str(row.id))
    executions, total = await operations.executions(call.session, row, limit=HISTORY)
    cron = cron_of_row(row)
    named = next((name for name, value in PRESETS.items() if value == cron), "Custom")
    section = RetentionSection(
        visible=True,
        policy_id=row.id,
        rules=tuple(rules),
        cron=cron,
        schedule=named if cron else "None",
        next_run=schedule.next_run if schedule is not None else None,
        runs=tuple(_run_row(e) for e in executions),
        total_runs=total,
        change=change,
        run=run,
    )
    return {"retention": section}


# --- forms ------------------------------------------------------------------------------------


def _back(name: str) -> str:
    return f"/projects/{name}/policy#retention"


def _rule_from_form(form: FormData) -> dict[str, Any]:
    """Harbor's rule JSON from the add-rule form (one repository and one tag selector)."""
    template = text_field(form, "template")
    value = text_field(form, "value")
    repo = text_field(form, "repo_decoration")
    tag = text_field(form, "tag_decoration")
    tag = tag if tag in (MATCHES, EXCLUDES) else MATCHES
    untagged = form.get("untagged") in ("on", "true", "1")
    params: dict[str, Any] = {}
    if template in TEMPLATES and TEMPLATES[template][1] is not None:
        params[template] = int(value) if value.isdigit() else value
    return {
        "disabled": False,
        "action": "retain",
        "template": template,
        "params": params,
        "tag_selectors": [
            {
                "kind": "doublestar",
                "decoration": tag,
                "pattern": text_field(form, "tag_pattern") or "**",
                "extras": '{"untagged":true}' if untagged else '{"untagged":false}',
            }
        ],
        "scope_selectors": {
            "repository": [
                {
                    "kind": "doublestar",
                    "decoration": repo if repo in (REPO_MATCHES, REPO_EXCLUDES) else REPO_MATCHES,
                    "pattern": text_field(form, "repo_pattern") or "**",
                }
            ]
        },
    }


async def _save(
    call: PageCall,
    project: Project,
    row: RetentionPolicy | None,
    rules: list[dict[str, Any]],
    cron: str,
) -> None:
    """The project's policy with these rules and this cron, created if it has none."""
    body = {
        "algorithm": "or",
        "rules": rules,
        "trigger": {"kind": "Schedule", "settings": {"cron": cron}},
        "scope": {"level": "project", "ref": project.id},
    }
    policy = parse_policy(body)
    if row is None:
        await operations.create_policy(call.session, project, policy, by=call.actor)
    else:
        await operations.update_policy(call.session, row, policy, by=call.actor)


def _rules_of(row: RetentionPolicy | None) -> list[dict[str, Any]]:
    """A copy of the stored rules, to change and save."""
    return copy.deepcopy(list(row.rules or [])) if row is not None else []


async def _changeable(call: PageCall, name: str) -> tuple[Project, RetentionPolicy | None]:
    project, access = await call.project(name)
    call.require(access, ("tag-retention", "update"), "change its retention rules")
    return project, await operations.policy_of_project(call.session, project.id)


async def add_rule(request: Request) -> Response:
    name = request.path_params["project"]
    async with page_call(request) as call:
        form = await checked_form(request)
        project, row = await _changeable(call, name)
        rules = _rules_of(row)
        cron = cron_of_row(row) if row is not None else ""
        try:
            await _save(call, project, row, [*rules, _rule_from_form(form)], cron)
        except HarborliteError as error:
            return redirect(request, _back(name), error=sentence(error))
    return redirect(request, _back(name), notice="Retention rule added.")


async def change_rule(request: Request) -> Response:
    name = request.path_params["project"]
    action = request.path_params["action"]
    if action not in ("enable", "disable", "delete"):
        raise NotFound(f"There is nothing to {action} here.")
    number = int(request.path_params["number"])
    async with page_call(request) as call:
        await checked_form(request)
        project, row = await _changeable(call, name)
        rules = _rules_of(row)
        if row is None or not 1 <= number <= len(rules):
            raise NotFound("That retention rule does not exist any more.")
        if action == "delete":
            del rules[number - 1]
        else:
            rules[number - 1]["disabled"] = action == "disable"
        try:
            await _save(call, project, row, rules, cron_of_row(row))
        except HarborliteError as error:
            return redirect(request, _back(name), error=sentence(error))
    done = {"enable": "enabled", "disable": "disabled", "delete": "deleted"}[action]
    return redirect(request, _back(name), notice=f"Retention rule {number} is {done}.")


async def set_schedule(request: Request) -> Response:
    name = request.path_params["project"]
    async with page_call(request) as call:
        form = await checked_form(request)
        project, row = await _changeable(call, name)
        kind = text_field(form, "schedule")
        cron = PRESETS.get(kind, text_field(form, "cron") if kind == "Custom" else "")
        rules = _rules_of(row)
        try:
            await _save(call, project, row, rules, cron)
        except HarborliteError as error:
            return redirect(request, _back(name), error=sentence(error))
    said = f"Retention runs on the schedule {cron}." if cron else "Retention runs only when asked."
    return redirect(request, _back(name), notice=said)


async def run_now(request: Request) -> Response:
    name = request.path_params["project"]
    async with page_call(request) as call:
        form = await checked_form(request)
        _, row = await _changeable(call, name)
        dry_run = form.get("dry_run") in ("on", "true", "1")
        if row is None:
            return redirect(request, _back(name), error="Add a retention rule first.")
        try:
            execution = await operations.run_now(call.session, row, dry_run=dry_run, by=call.actor)
        except HarborliteError as error:
            return redirect(request, _back(name), error=sentence(error))
        execution_id = execution.id
    if call.services.jobs is not None:
        call.services.jobs.wakeup.set()
    what = "Dry run" if dry_run else "Retention run"
    return redirect(request, _back(name), notice=f"{what} {execution_id} started.")


async def stop_run(request: Request) -> Response:
    name = request.path_params["project"]
    execution_id = int(request.path_params["execution"])
    async with page_call(request) as call:
        await checked_form(request)
        _, row = await _changeable(call, name)
        if row is None:
            raise NotFound("This project has no retention policy.")
        try:
            await operations.stop_execution(call.session, row, execution_id)
        except HarborliteError as error:
            return redirect(request, _back(name), error=sentence(error))
    return redirect(request, _back(name), notice=f"Run {execution_id} is stopping.")


async def task_log(request: Request) -> Response:
    """One repository's log of a run, as text (Harbor's table of verdicts)."""
    name = request.path_params["project"]
    async with page_call(request) as call:
        project, access = await call.project(name)
        call.require(access, ("tag-retention", "read"), "read its retention runs")
        row = await operations.policy_of_project(call.session, project.id)
        if row is None:
            raise NotFound("This project has no retention policy.")
        execution = await operations.execution_of(
            call.session, row, int(request.path_params["execution"])
        )
        task = operations.task_of(execution, int(request.path_params["task"]))
    return PlainTextResponse(task.log)


BASE = "/projects/{project}/policy/retention"

ROUTES = [
    Route(BASE + "/rules", add_rule, methods=["POST"]),
    Route(BASE + "/rules/{number:int}/{action:str}", change_rule, methods=["POST"]),
    Route(BASE + "/schedule", set_schedule, methods=["POST"]),
    Route(BASE + "/run", run_now, methods=["POST"]),
    Route(BASE + "/executions/{execution:int}/stop", stop_run, methods=["POST"]),
    Route(BASE + "/executions/{execution:int}/tasks/{task:int}", task_log, methods=["GET"]),
]
