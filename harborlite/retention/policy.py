"""A retention policy as Harbor's API takes and shows it: parsing and checking a body, the
metadata of ``GET /retentions/metadatas``, and the policy's JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harborlite.errors import BadRequest, Conflict
from harborlite.jobs.schedules import cron_of
from harborlite.retention.models import RetentionPolicy
from harborlite.retention.rules import (
    EXCLUDES,
    KIND,
    MATCHES,
    REPO_EXCLUDES,
    REPO_MATCHES,
    RETAIN,
    TEMPLATES,
    Rule,
    parse_rule,
)

MAX_RULES = 15
ALGORITHM = "or"
SCHEDULE = "Schedule"
PROJECT_LEVEL = "project"


@dataclass(frozen=True)
class Policy:
    """A checked policy body: its rules, its schedule (``""``: run only when asked) and the
    project it is for."""

    rules: tuple[Rule, ...]
    cron: str
    project_id: int

    def rules_json(self) -> list[dict[str, Any]]:
        return [rule.as_json() for rule in self.rules]

    def trigger_json(self) -> dict[str, Any]:
        return trigger_json(self.cron)


def trigger_json(cron: str) -> dict[str, Any]:
    return {"kind": SCHEDULE, "settings": {"cron": cron}, "references": {}}


def metadata() -> dict[str, Any]:
    """``GET /retentions/metadatas``: the templates and selectors Harbor lists."""
    return {
        "templates": [
            {
                "rule_template": template,
                "display_text": text,
                "action": RETAIN,
                "params": [] if unit is None else [{"type": "int", "unit": unit, "required": True}],
            }
            for template, (text, unit) in TEMPLATES.items()
        ],
        "scope_selectors": [
            {
                "display_text": "Repositories",
                "kind": KIND,
                "decorations": [REPO_MATCHES, REPO_EXCLUDES],
            }
        ],
        "tag_selectors": [
            {"display_text": "Tags", "kind": KIND, "decorations": [MATCHES, EXCLUDES]}
        ],
    }


def _scope_project(body: dict[str, Any]) -> int:
    scope = body.get("scope")
    if not isinstance(scope, dict):
        raise BadRequest('scope is required: {"level": "project", "ref": PROJECT_ID}')
    level = scope.get("level")
    if level != PROJECT_LEVEL:
        raise BadRequest(f"scope {level} is not support")
    ref = scope.get("ref")
    if isinstance(ref, bool) or not isinstance(ref, int) or ref <= 0:
        raise BadRequest(f"invalid Project id {ref}")
    return ref


def _cron(body: dict[str, Any]) -> str:
    trigger = body.get("trigger")
    if trigger is None:
        return ""
    if not isinstance(trigger, dict):
        raise BadRequest("trigger must be an object")
    kind = trigger.get("kind", SCHEDULE)
    if kind != SCHEDULE:
        raise BadRequest(f"not support Trigger {kind}")
    settings = trigger.get("settings")
    if not isinstance(settings, dict) or "cron" not in settings:
        raise BadRequest("Trigger.Settings.cron: Can not be empty (an empty string: no schedule)")
    cron = settings["cron"]
    if cron is None:
        return ""
    if not isinstance(cron, str):
        raise BadRequest("trigger.settings.cron must be a string")
    return cron_of("Custom", cron) if cron.strip() else ""


def parse_policy(body: dict[str, Any]) -> Policy:
    """A policy body checked as Harbor checks it: 400 for more than 15 rules or a rule Harbor
    refuses, 409 for two identical rules, 400 for a scope other than a project."""
    algorithm = body.get("algorithm", ALGORITHM)
    if algorithm != ALGORITHM:
        raise BadRequest(f"algorithm must be {ALGORITHM!r}, got {algorithm!r}")
    raw_rules = body.get("rules")
    if raw_rules is None:
        raw_rules = []
    if not isinstance(raw_rules, list):
        raise BadRequest("rules must be a list")
    if len(raw_rules) > MAX_RULES:
        raise BadRequest(f"only {MAX_RULES} rules are allowed at most")
    rules = tuple(parse_rule(raw, number) for number, raw in enumerate(raw_rules))
    seen: dict[str, int] = {}
    for number, rule in enumerate(rules):
        shape = rule.as_json()
        del shape["id"]
        key = json.dumps(shape, sort_keys=True)
        if key in seen:
            raise Conflict(f"rule {number} is conflict with rule {seen[key]}")
        seen[key] = number
    cron = _cron(body)
    return Policy(rules, cron, _scope_project(body))


def rules_of(row: RetentionPolicy) -> tuple[Rule, ...]:
    """The stored rules (kept in the form :func:`parse_policy` made)."""
    return tuple(parse_rule(raw, number) for number, raw in enumerate(row.rules or []))


def cron_of_row(row: RetentionPolicy) -> str:
    settings = (row.trigger or {}).get("settings") or {}
    cron = settings.get("cron") or ""
    return str(cron)


def policy_json(row: RetentionPolicy) -> dict[str, Any]:
    """Harbor's ``RetentionPolicy``."""
    return {
        "id": row.id,
        "algorithm": row.algorithm,
        "rules": list(row.rules or []),
        "trigger": trigger_json(cron_of_row(row)),
        "scope": {"level": PROJECT_LEVEL, "ref": row.project_id},
    }
