"""``/replication/policies`` and ``/replication/executions``: who may (401, 403), Harbor's
validation texts (400, nothing kept), 404s, 409 for a taken name, 412 for a disabled policy,
a second run of a single-active policy and deleting a policy while it runs; updates, a stop
that stops the tasks too, and Harbor's shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harborlite.api.replication import EXTENSION_FIELDS
from tests.api.pushing import Pusher
from tests.api.swagger import validate
from tests.harness import Harborlite
from tests.replication.replicas import add_policy, add_registry, execution, start, tasks, wait_done
from tests.support.polling import eventually
from tests.support.processes import free_port

PASSWORD = "Passw0rd!x"


@pytest.fixture(scope="module")
def user(harborlite: Harborlite) -> tuple[str, str]:
    name = harborlite.unique("repluser")
    harborlite.create_user(name, PASSWORD)
    return (name, PASSWORD)


@pytest.fixture(scope="module")
def nowhere(harborlite: Harborlite) -> int:
    """An endpoint nothing answers at: its tasks fail and are retried, slowly."""
    return add_registry(
        harborlite,
        harborlite.unique("nowhere"),
        "docker-registry",
        f"http://127.0.0.1:{free_port()}",
    )


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def harbors(shown: dict[str, Any], name: str) -> dict[str, Any]:
    """``shown`` without harborlite's documented additions (api/replication EXTENSION_FIELDS)."""
    return {k: v for k, v in shown.items() if k not in EXTENSION_FIELDS.get(name, {})}


def policies(server: Harborlite) -> list[dict[str, Any]]:
    answer = server.api(
        "GET", "/replication/policies", auth=server.admin, params={"page_size": "100"}
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


ROUTES = [
    ("GET", "/replication/policies", None),
    ("POST", "/replication/policies", {"name": "x", "dest_registry": {"id": 1}}),
    ("GET", "/replication/policies/1", None),
    ("PUT", "/replication/policies/1", {"name": "x"}),
    ("DELETE", "/replication/policies/1", None),
    ("GET", "/replication/executions", None),
    ("POST", "/replication/executions", {"policy_id": 1}),
    ("GET", "/replication/executions/1", None),
    ("PUT", "/replication/executions/1", None),
    ("GET", "/replication/executions/1/tasks", None),
    ("GET", "/replication/executions/1/tasks/1/log", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_only_system_admins(
    harborlite: Harborlite, user: tuple[str, str], method: str, path: str, body: Any
) -> None:
    anonymous = harborlite.api(method, path, json=body)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["errors"][0]["code"] == "UNAUTHORIZED"
    signed_in = harborlite.api(method, path, auth=user, json=body)
    assert signed_in.status_code == 403, signed_in.text
    assert signed_in.json()["errors"][0]["code"] == "FORBIDDEN"


def test_refusals_keep_nothing(harborlite: Harborlite, nowhere: int) -> None:
    before = len(policies(harborlite))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "r1"}, "either src_registry or dest_registry should be empty"),
        ({"name": "r1", "dest_registry": {"id": 999999}}, "registry 999999 not found"),
        (
            {"name": "r1", "dest_registry": {"id": nowhere}, "filters": [{"type": "x"}]},
            "invalid filter type",
        ),
        (
            {
                "name": "r1",
                "dest_registry": {"id": nowhere},
                "trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 * * * * *"}},
            },
            "the 2nd field (indicating Minutes of time) of the cron setting must not be *",
        ),
    ]
    for body, message in cases:
        answer = harborlite.api("POST", "/replication/policies", auth=harborlite.admin, json=body)
        assert answer.status_code == 400, answer.text
        error = answer.json()["errors"][0]
        assert error["code"] == "BAD_REQUEST" and message in error["message"]
    not_json = harborlite.api(
        "POST",
        "/replication/policies",
        auth=harborlite.admin,
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    assert not_json.status_code == 400
    assert len(policies(harborlite)) == before


def test_crud_and_shapes(harborlite: Harborlite, nowhere: int) -> None:
    name = harborlite.unique("crud")
    policy_id = add_policy(
        harborlite,
        name=name,
        dest_registry={"id": nowhere},
        filters=[{"type": "tag", "value": "v*"}],
        trigger={"type": "scheduled", "trigger_settings": {"cron": "0 0 1 * * *"}},
    )
    taken = harborlite.api(
        "POST",
        "/replication/policies",
        auth=harborlite.admin,
        json={"name": name, "dest_registry": {"id": nowhere}},
    )
    assert taken.status_code == 409, taken.text
    shown = harborlite.api("GET", f"/replication/policies/{policy_id}", auth=harborlite.admin)
    body = shown.json()
    assert validate(body, ref("ReplicationPolicy")) == []
    assert body["src_registry"]["id"] == 0 and body["src_registry"]["name"] == "Local"
    assert body["dest_registry"]["id"] == nowhere
    assert "access_secret" not in body["dest_registry"]["credential"]
    assert body["filters"] == [{"type": "tag", "value": "v*", "decoration": "matches"}]
    assert body["trigger"] == {"type": "scheduled", "trigger_settings": {"cron": "0 0 1 * * *"}}
    assert (body["dest_namespace_replace_count"], body["override"], body["enabled"]) == (
        -1,
        True,
        True,
    )
    updated = harborlite.api(
        "PUT",
        f"/replication/policies/{policy_id}",
        auth=harborlite.admin,
        json={**{k: body[k] for k in ("name", "dest_registry", "filters")}, "enabled": False},
    )
    assert updated.status_code == 200, updated.text
    again = harborlite.api("GET", f"/replication/policies/{policy_id}", auth=harborlite.admin)
    assert again.json()["enabled"] is False
    assert again.json()["trigger"]["type"] == "manual"
    disabled = harborlite.api(
        "POST", "/replication/executions", auth=harborlite.admin, json={"policy_id": policy_id}
    )
    assert disabled.status_code == 412, disabled.text
    assert f"the policy {policy_id} is disabled" in disabled.json()["errors"][0]["message"]
    by_name = harborlite.api(
        "GET", "/replication/policies", auth=harborlite.admin, params={"name": name}
    )
    assert [p["id"] for p in by_name.json()] == [policy_id]
    gone = harborlite.api("DELETE", f"/replication/policies/{policy_id}", auth=harborlite.admin)
    assert gone.status_code == 200
    missing = harborlite.api("GET", f"/replication/policies/{policy_id}", auth=harborlite.admin)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/replication/executions", {"policy_id": 999999}, 404),
        ("POST", "/replication/executions", {}, 400),
        ("POST", "/replication/executions", {"policy_id": "1"}, 400),
        ("GET", "/replication/executions/999999", None, 404),
        ("PUT", "/replication/executions/999999", None, 404),
        ("GET", "/replication/executions/999999/tasks", None, 404),
        ("GET", "/replication/executions?status=Sleeping", None, 400),
        ("GET", "/replication/executions?trigger=whenever", None, 400),
    ],
)
def test_execution_refusals(
    harborlite: Harborlite, method: str, path: str, body: Any, status: int
) -> None:
    answer = harborlite.api(method, path, auth=harborlite.admin, json=body)
    assert answer.status_code == status, answer.text


@pytest.fixture
def busy(harborlite: Harborlite, nowhere: int) -> Iterator[tuple[int, int]]:
    """A single-active policy with a run in progress (retrying an endpoint that is down)."""
    harborlite.create_project(project := harborlite.unique("busy"))
    with Pusher(harborlite) as pusher:
        pusher.image(f"{project}/app", "v1")
    policy_id = add_policy(
        harborlite,
        name=harborlite.unique("busy"),
        dest_registry={"id": nowhere},
        filters=[{"type": "name", "value": f"{project}/**"}],
        single_active_replication=True,
    )
    run_id = start(harborlite, policy_id)
    yield policy_id, run_id
    harborlite.api("PUT", f"/replication/executions/{run_id}", auth=harborlite.admin)


def test_single_active_stop_and_delete_while_running(
    harborlite: Harborlite, busy: tuple[int, int]
) -> None:
    policy_id, run_id = busy
    eventually(
        lambda: [t for t in tasks(harborlite, run_id) if t["status"] == "InProgress"] or None,
        "a task in progress",
        timeout=20,
    )
    second = harborlite.api(
        "POST", "/replication/executions", auth=harborlite.admin, json={"policy_id": policy_id}
    )
    assert second.status_code == 412, second.text
    deleting = harborlite.api("DELETE", f"/replication/policies/{policy_id}", auth=harborlite.admin)
    assert deleting.status_code == 412, deleting.text
    stopped = harborlite.api("PUT", f"/replication/executions/{run_id}", auth=harborlite.admin)
    assert stopped.status_code == 200, stopped.text
    run = wait_done(harborlite, run_id, timeout=30)
    assert run["status"] == "Stopped", run
    assert [t["status"] for t in tasks(harborlite, run_id)] == ["Stopped"]
    assert execution(harborlite, run_id)["stopped"] == 1
    assert validate(harbors(run, "ReplicationExecution"), ref("ReplicationExecution")) == []
    for task in tasks(harborlite, run_id):
        assert validate(harbors(task, "ReplicationTask"), ref("ReplicationTask")) == []
    listed = harborlite.api(
        "GET",
        "/replication/executions",
        auth=harborlite.admin,
        params={"policy_id": policy_id, "status": "Stopped", "trigger": "manual"},
    )
    assert [r["id"] for r in listed.json()] == [run_id]
    finished = harborlite.api("PUT", f"/replication/executions/{run_id}", auth=harborlite.admin)
    assert finished.status_code == 412
    assert (
        harborlite.api(
            "DELETE", f"/replication/policies/{policy_id}", auth=harborlite.admin
        ).status_code
        == 200
    )


def test_ids_past_the_database_keys_are_not_found(harborlite: Harborlite) -> None:
    """An id no integer key can hold (PostgreSQL refuses to compare it) names nothing: the
    usual 404 or 400, never a 500."""
    huge = 2**63 - 2
    started = harborlite.api(
        "POST", "/replication/executions", auth=harborlite.admin, json={"policy_id": huge}
    )
    assert started.status_code == 404, started.text
    created = harborlite.api(
        "POST",
        "/replication/policies",
        auth=harborlite.admin,
        json={"name": harborlite.unique("huge"), "dest_registry": {"id": huge}},
    )
    assert created.status_code == 400, created.text
    assert f"registry {huge} not found" in created.text
    project = harborlite.api(
        "POST",
        "/projects",
        auth=harborlite.admin,
        json={"project_name": harborlite.unique("hugeproxy"), "registry_id": huge},
    )
    assert project.status_code == 400, project.text
