"""A policy body checked as Harbor checks it, and the metadata of /retentions/metadatas."""

from __future__ import annotations

from typing import Any

import pytest

from harborlite.errors import BadRequest, Conflict
from harborlite.retention.plan import DELETE, IMMUTABLE, RETAIN, decide, table
from harborlite.retention.policy import metadata, parse_policy
from harborlite.retention.rules import Candidate
from tests.retention.test_rules import NOW, at, good_rule


def body(**changes: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "algorithm": "or",
        "rules": [good_rule()],
        "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}, "references": {}},
        "scope": {"level": "project", "ref": 7},
    }
    policy.update(changes)
    return policy


def test_a_good_policy() -> None:
    policy = parse_policy(body())
    assert policy.project_id == 7
    assert policy.cron == "0 0 0 * * *"
    assert [rule["id"] for rule in policy.rules_json()] == [1]
    assert policy.trigger_json() == {
        "kind": "Schedule",
        "settings": {"cron": "0 0 0 * * *"},
        "references": {},
    }


def test_no_trigger_or_an_empty_cron_means_no_schedule() -> None:
    assert parse_policy(body(trigger=None)).cron == ""
    assert parse_policy(body(trigger={"kind": "Schedule", "settings": {"cron": ""}})).cron == ""
    assert parse_policy(body(rules=[])).rules == ()


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"rules": [good_rule()] * 16}, BadRequest, "only 15 rules are allowed at most"),
        ({"rules": [good_rule(), good_rule()]}, Conflict, "rule 1 is conflict with rule 0"),
        ({"algorithm": "and"}, BadRequest, "algorithm must be 'or'"),
        ({"scope": {"level": "system", "ref": 0}}, BadRequest, "scope system is not support"),
        ({"scope": {"level": "project", "ref": 0}}, BadRequest, "invalid Project id 0"),
        ({"scope": None}, BadRequest, "scope is required"),
        ({"trigger": {"kind": "Event", "settings": {}}}, BadRequest, "not support Trigger Event"),
        ({"trigger": {"kind": "Schedule", "settings": {}}}, BadRequest, "cron: Can not be empty"),
        (
            {"trigger": {"kind": "Schedule", "settings": {"cron": "0 0 * * *"}}},
            BadRequest,
            "invalid cron",
        ),
        ({"rules": "all"}, BadRequest, "rules must be a list"),
    ],
)
def test_refusals(changes: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_policy(body(**changes))


def test_fifteen_rules_are_allowed() -> None:
    rules = [good_rule(params={"latestPushedK": n}) for n in range(15)]
    assert len(parse_policy(body(rules=rules)).rules) == 15


def test_metadata_lists_harbors_templates_and_selectors() -> None:
    shown = metadata()
    assert [t["rule_template"] for t in shown["templates"]] == [
        "latestPushedK",
        "latestPulledN",
        "nDaysSinceLastPush",
        "nDaysSinceLastPull",
        "always",
    ]
    assert shown["templates"][0]["params"] == [{"type": "int", "unit": "COUNT", "required": True}]
    assert shown["templates"][-1]["params"] == []
    assert shown["scope_selectors"][0]["decorations"] == ["repoMatches", "repoExcludes"]
    assert shown["tag_selectors"][0]["decorations"] == ["matches", "excludes"]


def test_verdicts_and_the_task_log_table() -> None:
    rules = parse_policy(body()).rules  # latest 3 pushed, untagged too
    candidates = [
        Candidate(f"sha256:{n}", (f"v{n}",), pushed=at(n), created=at(n)) for n in range(5)
    ]
    protected = {"v4"}
    verdicts = decide(rules, candidates, NOW, lambda tags: bool(protected & set(tags)))
    marks = {v.candidate.digest: v.mark for v in verdicts}
    assert marks == {
        "sha256:0": RETAIN,
        "sha256:1": RETAIN,
        "sha256:2": RETAIN,
        "sha256:3": DELETE,
        "sha256:4": IMMUTABLE,
    }
    shown = table(verdicts)
    lines = shown.splitlines()
    assert lines[0].split("|")[1:-1] == [
        f" {h.ljust(len(cell) - 2)} "
        for h, cell in zip(
            [
                "Digest",
                "Tag",
                "Kind",
                "Labels",
                "PushedTime",
                "PulledTime",
                "CreatedTime",
                "Retention",
            ],
            lines[0].split("|")[1:-1],
            strict=True,
        )
    ]
    assert lines[1].startswith("|---")
    assert len(lines) == 2 + 5
    row = next(line for line in lines if "sha256:3" in line)
    assert "| v3 " in row and "| image " in row and "| DEL" in row
    assert "IMMUTABLE" in next(line for line in lines if "sha256:4" in line)
    assert all(len(line) == len(lines[0]) for line in lines)
