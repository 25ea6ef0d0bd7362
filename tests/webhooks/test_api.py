"""The webhook policy API: Harbor's shapes, checks and messages, who may do what, the secret
shown once (and on rotation), ``events`` and ``lasttrigger``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import Harborlite, own_harborlite

GOOD_TARGET = {"type": "http", "address": "http://127.0.0.1:9/hook"}


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite()


def policy(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "ci",
        "description": "",
        "enabled": True,
        "event_types": ["PUSH_ARTIFACT"],
        "targets": [GOOD_TARGET],
    }
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "name is required"),
        ({"event_types": []}, "empty event type"),
        ({"event_types": ["PUSH_ARTIFACT", "NOPE"]}, "unsupported event type NOPE"),
        ({"targets": []}, "empty notification target with policy ci"),
        ({"targets": [{"type": "http", "address": ""}]}, "empty URL"),
        ({"targets": [{"type": "http", "address": "ftp://x/y"}]}, "invalid scheme: ftp"),
        ({"targets": [{"type": "http", "address": "http://"}]}, "invalid URI for request"),
        (
            {"targets": [{"type": "email", "address": "http://x/y"}]},
            "unsupported target type email with policy ci",
        ),
        (
            {"targets": [{"type": "slack", "address": "http://x/y", "payload_format": "Default"}]},
            "set payload format is not allowed for slack",
        ),
        (
            {"targets": [{"type": "http", "address": "http://x/y", "payload_format": "XML"}]},
            "unsupported payload format type: XML",
        ),
        (
            {
                "targets": [
                    {"type": "http", "address": "http://x/", "auth_header": "a\r\nX-Evil: 1"}
                ]
            },
            "auth_header must be a string on one line",
        ),
    ],
)
def test_bad_policies_are_refused_with_harbors_messages(
    server: Harborlite, changes: dict[str, Any], message: str
) -> None:
    project = server.unique("badhooks")
    server.create_project(project)
    answer = server.api(
        "POST", f"/projects/{project}/webhook/policies", auth=server.admin, json=policy(**changes)
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["errors"][0]
    assert error["code"] == "BAD_REQUEST"
    assert message in error["message"]
    listed = server.api("GET", f"/projects/{project}/webhook/policies", auth=server.admin)
    assert listed.json() == []  # nothing half-made


def test_create_show_update_delete_and_the_secret_shown_once(server: Harborlite) -> None:
    project = server.unique("crud")
    project_id = server.create_project(project)
    base = f"/projects/{project}/webhook/policies"
    target = {"type": "http", "address": "https://ci.example/hook?x=1", "auth_header": "Bearer t"}
    created = server.api("POST", base, auth=server.admin, json=policy(targets=[target]))
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    policy_id = int(location.rsplit("/", 1)[1])
    secret = created.json()["secret"]
    assert len(secret) >= 32
    shown = server.api("GET", f"{base}/{policy_id}", auth=server.admin).json()
    assert "secret" not in shown
    assert shown["project_id"] == project_id
    assert shown["creator"] == "admin"
    assert shown["targets"] == [
        {
            "type": "http",
            "address": "https://ci.example/hook",  # Harbor keeps scheme, host and path
            "auth_header": "Bearer t",
            "skip_cert_verify": False,
            "payload_format": "Default",
        }
    ]
    listed = server.api("GET", base, auth=server.admin)
    assert listed.headers["X-Total-Count"] == "1"
    assert all("secret" not in item for item in listed.json())

    again = server.api("POST", base, auth=server.admin, json=policy())
    assert again.status_code == 409
    assert again.json()["errors"][0]["message"] == "notification policy ci already exists"

    update = server.api(
        "PUT",
        f"{base}/{policy_id}",
        auth=server.admin,
        json=policy(name="ci2", enabled=False, event_types=["PULL_ARTIFACT", "QUOTA_EXCEED"]),
    )
    assert update.status_code == 200, update.text
    changed = server.api("GET", f"{base}/{policy_id}", auth=server.admin).json()
    assert (changed["name"], changed["enabled"]) == ("ci2", False)
    assert changed["event_types"] == ["PULL_ARTIFACT", "QUOTA_EXCEED"]

    rotated = server.api("POST", f"{base}/{policy_id}/secret", auth=server.admin)
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in ("", secret)

    assert server.api("DELETE", f"{base}/{policy_id}", auth=server.admin).status_code == 200
    assert server.api("GET", f"{base}/{policy_id}", auth=server.admin).status_code == 404
    assert server.api("GET", f"{base}/999999", auth=server.admin).status_code == 404


def test_only_project_admins_change_policies_and_maintainers_read_them(server: Harborlite) -> None:
    project = server.unique("rbac")
    server.create_project(project)
    base = f"/projects/{project}/webhook/policies"
    created = server.api("POST", base, auth=server.admin, json=policy())
    policy_id = created.json()["id"]
    people = {}
    for role_id, role in ((1, "padmin"), (4, "maint"), (2, "dev")):
        name = server.unique(role)
        server.create_user(name)
        server.add_member(project, name, role_id)
        people[role] = (name, "Passw0rd!x")
    assert server.api("POST", base, auth=people["padmin"], json=policy(name="b")).status_code == 201
    assert server.api("GET", base, auth=people["maint"]).status_code == 200
    assert server.api("GET", f"{base}/{policy_id}", auth=people["maint"]).status_code == 200
    for who in ("maint", "dev"):
        refused = server.api("POST", base, auth=people[who], json=policy(name="c"))
        assert refused.status_code == 403, who
        refused = server.api("DELETE", f"{base}/{policy_id}", auth=people[who])
        assert refused.status_code == 403, who
        refused = server.api("POST", f"{base}/{policy_id}/secret", auth=people[who])
        assert refused.status_code == 403, who
    assert server.api("GET", base, auth=people["dev"]).status_code == 403
    assert server.api("GET", base).status_code == 401
    elsewhere = server.api("GET", "/projects/no-such-project/webhook/policies", auth=server.admin)
    assert elsewhere.status_code == 404


def test_supported_events_and_last_trigger(server: Harborlite) -> None:
    project = server.unique("events")
    server.create_project(project)
    events = server.api("GET", f"/projects/{project}/webhook/events", auth=server.admin).json()
    assert {"PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "QUOTA_EXCEED"} <= set(
        events["event_type"]
    )
    assert {"SCANNING_COMPLETED", "REPLICATION", "TAG_RETENTION", "DELETE_TAG"} <= set(
        events["event_type"]
    )
    assert events["notify_type"] == ["http", "slack"]
    assert events["payload_formats"] == [
        {"notify_type": "http", "formats": ["Default", "CloudEvents"]}
    ]
    server.api(
        "POST",
        f"/projects/{project}/webhook/policies",
        auth=server.admin,
        json=policy(event_types=["PUSH_ARTIFACT", "PULL_ARTIFACT"]),
    )
    triggers = server.api("GET", f"/projects/{project}/webhook/lasttrigger", auth=server.admin)
    assert [(t["policy_name"], t["event_type"]) for t in triggers.json()] == [
        ("ci", "PUSH_ARTIFACT"),
        ("ci", "PULL_ARTIFACT"),
    ]
    assert triggers.json()[0]["last_trigger_time"] == "0001-01-01T00:00:00.000Z"
