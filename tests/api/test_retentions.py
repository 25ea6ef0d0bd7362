"""``/retentions``: Harbor's tag retention API on a real harborlite, every refusal included."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.pushing import Pusher
from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"
FINAL = ("Success", "Error", "Stopped")


@dataclass
class Team:
    server: Harborlite
    project: str
    project_id: int
    users: dict[str, tuple[str, str]]  # role -> credentials


@pytest.fixture(scope="module")
def team(harborlite: Harborlite) -> Team:
    project = harborlite.unique("keep")
    project_id = harborlite.create_project(project)
    users = {}
    for role, role_id in (
        ("admin", 1),
        ("developer", 2),
        ("guest", 3),
        ("maintainer", 4),
        ("outsider", 0),
    ):
        name = harborlite.unique(f"r{role}")
        harborlite.create_user(name, PASSWORD)
        if role_id:
            harborlite.add_member(project, name, role_id)
        users[role] = (name, PASSWORD)
    return Team(harborlite, project, project_id, users)


def selector(decoration: str, pattern: str, untagged: bool | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {"kind": "doublestar", "decoration": decoration, "pattern": pattern}
    if untagged is not None:
        shown["extras"] = json.dumps({"untagged": untagged}, separators=(",", ":"))
    return shown


def rule(template: str = "latestPushedK", value: int | None = 2, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "disabled": False,
        "action": "retain",
        "template": template,
        "params": {} if value is None else {template: value},
        "tag_selectors": [selector("matches", "**", untagged=True)],
        "scope_selectors": {"repository": [selector("repoMatches", "**")]},
    }
    body.update(changes)
    return body


def policy(project_id: int, *rules: dict[str, Any], cron: str = "") -> dict[str, Any]:
    return {
        "algorithm": "or",
        "rules": list(rules) or [rule()],
        "trigger": {"kind": "Schedule", "settings": {"cron": cron}, "references": {}},
        "scope": {"level": "project", "ref": project_id},
    }


def error_of(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["message"])


def create(server: Harborlite, body: dict[str, Any], auth: tuple[str, str] | None = None) -> int:
    response = server.api("POST", "/retentions", auth=auth or server.admin, json=body)
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location.startswith("/api/v2.0/retentions/")
    return int(location.rsplit("/", 1)[1])


def wait_for(server: Harborlite, policy_id: int, execution_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = server.api(
            "GET",
            f"/retentions/{policy_id}/executions",
            auth=server.admin,
            params={"page_size": 100},
        )
        assert listed.status_code == 200, listed.text
        found = next(e for e in listed.json() if e["id"] == execution_id)
        if found["status"] in FINAL:
            return dict(found)
        time.sleep(0.2)
    raise AssertionError(f"execution {execution_id} did not finish:\n{server.log()}")


def test_metadatas_need_a_login_and_list_harbors_templates(team: Team) -> None:
    server = team.server
    assert server.api("GET", "/retentions/metadatas").status_code == 401
    response = server.api("GET", "/retentions/metadatas", auth=team.users["guest"])
    assert response.status_code == 200, response.text
    shown = response.json()
    assert [t["rule_template"] for t in shown["templates"]] == [
        "latestPushedK",
        "latestPulledN",
        "nDaysSinceLastPush",
        "nDaysSinceLastPull",
        "always",
    ]
    assert shown["tag_selectors"] == [
        {"display_text": "Tags", "kind": "doublestar", "decorations": ["matches", "excludes"]}
    ]


def test_create_read_update_delete_and_every_refusal(team: Team) -> None:
    server, pid = team.server, team.project_id
    admin = server.admin
    # refusals before anything exists
    assert server.api("POST", "/retentions", json=policy(pid)).status_code == 401
    for who in ("guest", "outsider"):
        refused = server.api("POST", "/retentions", auth=team.users[who], json=policy(pid))
        assert refused.status_code == 403, (who, refused.text)
    too_many = server.api(
        "POST", "/retentions", auth=admin, json=policy(pid, *[rule(value=n) for n in range(16)])
    )
    assert too_many.status_code == 400 and error_of(too_many) == "only 15 rules are allowed at most"
    twice = server.api("POST", "/retentions", auth=admin, json=policy(pid, rule(), rule()))
    assert twice.status_code == 409 and error_of(twice) == "rule 1 is conflict with rule 0"
    cases = [
        (policy(999_999), "invalid Project id 999999"),
        ({**policy(pid), "scope": {"level": "system", "ref": 0}}, "scope system is not support"),
        (policy(pid, rule("nothing")), "rule evaluator nothing is not registered"),
        (policy(pid, rule(params={})), "missing required parameter latestPushedK"),
        (policy(pid, rule(value=-1)), "latestPushedK is less than zero"),
        (policy(pid, cron="* * *"), "invalid cron"),
        (policy(pid, rule(tag_selectors=[])), "tag_selectors is required"),
        ({**policy(pid), "algorithm": "and"}, "algorithm must be 'or'"),
    ]
    for body, message in cases:
        refused = server.api("POST", "/retentions", auth=admin, json=body)
        assert refused.status_code == 400, (message, refused.text)
        assert message in error_of(refused), refused.text
    not_an_object = server.api(
        "POST",
        "/retentions",
        auth=admin,
        content=b"[]",
        headers={"Content-Type": "application/json"},
    )
    assert not_an_object.status_code == 400

    policy_id = create(server, policy(pid, cron="0 0 2 * * *"), auth=team.users["developer"])
    metadata = server.api("GET", f"/projects/{pid}/metadatas/retention_id", auth=admin)
    assert metadata.json() == {"retention_id": str(policy_id)}
    again = server.api("POST", "/retentions", auth=admin, json=policy(pid, rule(value=5)))
    assert again.status_code == 400
    assert error_of(again) == f"project {pid} already has retention policy {policy_id}"

    shown = server.api("GET", f"/retentions/{policy_id}", auth=team.users["maintainer"])
    assert shown.status_code == 200, shown.text
    assert shown.json() == {
        "id": policy_id,
        "algorithm": "or",
        "rules": [{**rule(), "id": 1, "priority": 0}],
        "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 2 * * *"}, "references": {}},
        "scope": {"level": "project", "ref": pid},
    }
    assert server.api("GET", f"/retentions/{policy_id}").status_code == 401
    assert (
        server.api("GET", f"/retentions/{policy_id}", auth=team.users["guest"]).status_code == 403
    )
    assert server.api("GET", "/retentions/999999", auth=admin).status_code == 404
    assert server.api("GET", "/retentions/abc", auth=admin).status_code == 400

    changed = policy(pid, rule("nDaysSinceLastPull", 7), rule("always", None, disabled=True))
    assert (
        server.api("PUT", f"/retentions/{policy_id}", auth=admin, json=changed).status_code == 200
    )
    rules = server.api("GET", f"/retentions/{policy_id}", auth=admin).json()["rules"]
    assert [(r["id"], r["template"], r["disabled"]) for r in rules] == [
        (1, "nDaysSinceLastPull", False),
        (2, "always", True),
    ]
    other = server.create_project(server.unique("other"))
    moved = server.api("PUT", f"/retentions/{policy_id}", auth=admin, json=policy(other))
    assert moved.status_code == 404
    assert error_of(moved) == f"the retention policy id {policy_id} does not match"
    put_refusals = [
        (policy(pid, *[rule(value=n) for n in range(16)]), 400),
        (policy(pid, rule(), rule()), 409),
        (policy(pid, cron="not a cron"), 400),
    ]
    for body, status in put_refusals:
        refused = server.api("PUT", f"/retentions/{policy_id}", auth=admin, json=body)
        assert refused.status_code == status, refused.text
    guest_put = server.api(
        "PUT", f"/retentions/{policy_id}", auth=team.users["guest"], json=changed
    )
    assert guest_put.status_code == 403
    assert server.api("PUT", "/retentions/999999", auth=admin, json=changed).status_code == 404

    assert (
        server.api("DELETE", f"/retentions/{policy_id}", auth=team.users["guest"]).status_code
        == 403
    )
    assert server.api("DELETE", f"/retentions/{policy_id}").status_code == 401
    assert server.api("DELETE", f"/retentions/{policy_id}", auth=admin).status_code == 200
    assert server.api("GET", f"/retentions/{policy_id}", auth=admin).status_code == 404
    assert server.api("DELETE", f"/retentions/{policy_id}", auth=admin).status_code == 404
    gone = server.api("GET", f"/projects/{pid}/metadatas/retention_id", auth=admin)
    assert gone.status_code == 404
    recreated = create(server, policy(pid))
    assert recreated > policy_id  # ids are never reused
    logs = server.api(
        "GET", f"/projects/{team.project}/logs", auth=admin, params={"page_size": 100}
    )
    changes = {(e["operation"], e["resource_type"]) for e in logs.json()}
    assert {("create", "retention"), ("update", "retention"), ("delete", "retention")} <= changes
    assert server.api("DELETE", f"/retentions/{recreated}", auth=admin).status_code == 200


@pytest.mark.both_databases
def test_a_dry_run_its_tasks_and_log_and_the_refusals_of_runs(harborlite: Harborlite) -> None:
    server = harborlite
    project = server.unique("dry")
    pid = server.create_project(project)
    guest = server.unique("dguest")
    server.create_user(guest, PASSWORD)
    server.add_member(project, guest, 3)
    with Pusher(server) as pusher:
        pushed = [pusher.image(f"{project}/app", f"v{n}", seed=str(n)) for n in range(4)]
        pusher.image(f"{project}/keep/all", "x")
    body = policy(
        pid,
        rule("latestPushedK", 1, scope_selectors={"repository": [selector("repoMatches", "app")]}),
        rule("always", None, scope_selectors={"repository": [selector("repoMatches", "keep/**")]}),
    )
    policy_id = create(server, body)
    runs = f"/retentions/{policy_id}/executions"
    assert server.api("POST", runs, json={"dry_run": True}).status_code == 401
    assert (
        server.api("POST", runs, auth=(guest, PASSWORD), json={"dry_run": True}).status_code == 403
    )
    assert server.api("POST", runs, auth=server.admin, json={"dry_run": "yes"}).status_code == 400
    assert (
        server.api("POST", "/retentions/999999/executions", auth=server.admin, json={}).status_code
        == 404
    )

    started = server.api("POST", runs, auth=server.admin, json={"dry_run": True})
    assert started.status_code == 201, started.text
    location = started.headers["Location"]
    assert location.startswith(f"/api/v2.0/retentions/{policy_id}/executions/")
    execution_id = int(location.rsplit("/", 1)[1])
    done = wait_for(server, policy_id, execution_id)
    assert done["status"] == "Success", server.log()
    assert (done["policy_id"], done["trigger"], done["dry_run"]) == (policy_id, "MANUAL", True)
    assert done["start_time"] and done["end_time"]

    listed = server.api("GET", runs, auth=server.admin)
    assert listed.headers["X-Total-Count"] == "1"
    assert server.api("GET", runs, auth=(guest, PASSWORD)).status_code == 403
    tasks = server.api("GET", f"{runs}/{execution_id}/tasks", auth=server.admin)
    assert tasks.status_code == 200 and tasks.headers["X-Total-Count"] == "2"
    by_repository = {t["repository"]: t for t in tasks.json()}
    assert set(by_repository) == {"app", "keep/all"}
    app = by_repository["app"]
    assert (app["total"], app["retained"], app["status"], app["status_code"]) == (
        4,
        1,
        "Success",
        3,
    )
    assert app["execution_id"] == execution_id
    log = server.api("GET", f"{runs}/{execution_id}/tasks/{app['id']}", auth=server.admin)
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
    header = log.text.splitlines()
    columns = "Digest Tag Kind Labels PushedTime PulledTime CreatedTime Retention".split()
    assert any([c for c in line.split() if c != "|"] == columns for line in header)
    rows = {
        line.split("|")[1].strip(): line.split("|")[-2].strip()
        for line in header
        if "sha256:" in line
    }
    assert rows == {p.digest: ("RETAIN" if p is pushed[-1] else "DEL") for p in pushed}
    # the dry run deleted nothing
    artifacts = server.api(
        "GET", f"/projects/{project}/repositories/app/artifacts", auth=server.admin
    )
    assert artifacts.headers["X-Total-Count"] == "4"

    missing = [
        (f"{runs}/{execution_id}/tasks/99", 404),
        (f"{runs}/999999/tasks", 404),
        (f"/retentions/{policy_id}/executions/{execution_id}/tasks/1x", 400),
    ]
    for path, status in missing:
        assert server.api("GET", path, auth=server.admin).status_code == status, path
    patch = f"{runs}/{execution_id}"
    bogus = server.api("PATCH", patch, auth=server.admin, json={"action": "pause"})
    assert bogus.status_code == 400 and error_of(bogus) == "action should be 'stop'"
    finished = server.api("PATCH", patch, auth=server.admin, json={"action": "stop"})
    assert finished.status_code == 412, finished.text
    assert (
        server.api("PATCH", patch, auth=(guest, PASSWORD), json={"action": "stop"}).status_code
        == 403
    )
    other = create(server, policy(server.create_project(server.unique("dry-o"))))
    elsewhere = server.api(
        "GET", f"/retentions/{other}/executions/{execution_id}/tasks", auth=server.admin
    )
    assert elsewhere.status_code == 404  # a run of another policy


def test_a_scheduled_policy_runs_on_its_cron_and_stops_when_the_cron_is_cleared(
    harborlite: Harborlite,
) -> None:
    server = harborlite
    pid = server.create_project(server.unique("sched"))
    policy_id = create(server, policy(pid, cron="* * * * * *"))  # every second
    runs = f"/retentions/{policy_id}/executions"
    deadline = time.monotonic() + 30
    scheduled: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not scheduled:
        listed = server.api("GET", runs, auth=server.admin, params={"page_size": 100}).json()
        scheduled = [e for e in listed if e["trigger"] == "SCHEDULE" and e["status"] in FINAL]
        time.sleep(0.3)
    assert scheduled, server.log()
    assert scheduled[0]["dry_run"] is False and scheduled[0]["status"] == "Success"
    manual = policy(pid, cron="")
    assert (
        server.api("PUT", f"/retentions/{policy_id}", auth=server.admin, json=manual).status_code
        == 200
    )
    time.sleep(1.5)  # a run fired just before the change may still be pending
    count = int(server.api("GET", runs, auth=server.admin).headers["X-Total-Count"])
    time.sleep(2.5)
    assert int(server.api("GET", runs, auth=server.admin).headers["X-Total-Count"]) == count
    shown = server.api("GET", f"/retentions/{policy_id}", auth=server.admin).json()
    assert shown["trigger"]["settings"] == {"cron": ""}
