"""Webhooks end to end: a real harborlite, a real receiver thread. The receiver gets Harbor's
exact Default and CloudEvents payloads for a push, a pull and deletes, and Slack's message;
it checks the signature as the README tells a receiver to; a failing receiver is tried again
(counted), a hanging one never holds a push, and the deliveries show through the API."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.pushing import Pusher
from tests.harness import Harborlite, own_harborlite
from tests.webhooks.receiver import Received, Receiver, started_receiver

EVENTS = ["PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "DELETE_TAG"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with started_receiver() as started:
        yield started


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    env = {"HARBORLITE_WEBHOOK_RETRIES": "3", "HARBORLITE_WEBHOOK_TIMEOUT_SECONDS": "2"}
    yield from own_harborlite(extra_env=env)


def make_policy(
    server: Harborlite, project: str, targets: list[dict[str, Any]], events: list[str] = EVENTS
) -> tuple[int, str]:
    body = {"name": "hook", "enabled": True, "event_types": events, "targets": targets}
    created = server.api(
        "POST", f"/projects/{project}/webhook/policies", auth=server.admin, json=body
    )
    assert created.status_code == 201, created.text
    policy_id = int(created.headers["Location"].rsplit("/", 1)[1])
    assert created.json()["id"] == policy_id
    return policy_id, str(created.json()["secret"])


def signed_by(secret: str, request: Received) -> bool:
    """The check a receiver makes (README): HMAC-SHA256 of ``<timestamp>.<raw body>``,
    compared in constant time, and a timestamp of the last five minutes."""
    timestamp = request.headers["x-harborlite-timestamp"]
    if abs(time.time() - int(timestamp)) > 300:
        return False
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest("sha256=" + expected, request.headers["x-harborlite-signature"])


def pull(server: Harborlite, repository: str, reference: str) -> None:
    token = server.token(f"repository:{repository}:pull", server.admin)
    answer = httpx.get(
        f"{server.url}/v2/{repository}/manifests/{reference}",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.oci.image.manifest.v1+json",
        },
    )
    assert answer.status_code == 200, answer.text


def test_default_payloads_of_a_push_and_a_delete_are_harbors_and_signed(
    server: Harborlite, receiver: Receiver
) -> None:
    project = server.unique("hooks")
    server.create_project(project, public=True)
    path = f"/ok/{project}"
    target = {"type": "http", "address": receiver.url + path, "auth_header": "Bearer s3cret"}
    _, secret = make_policy(server, project, [target])
    with Pusher(server) as pusher:
        pushed = pusher.image(f"{project}/app", "1.0")

    push = receiver.of_type(path, "PUSH_ARTIFACT")
    body = push.json()
    assert set(body) == {"type", "occur_at", "operator", "event_data"}
    assert body["operator"] == "admin"
    assert abs(body["occur_at"] - time.time()) < 120
    repository = body["event_data"]["repository"]
    assert isinstance(repository.pop("date_created"), int)
    assert repository == {
        "name": "app",
        "namespace": project,
        "repo_full_name": f"{project}/app",
        "repo_type": "public",
    }
    assert body["event_data"]["resources"] == [
        {
            "digest": pushed.digest,
            "tag": "1.0",
            "resource_url": f"{server.host}/{project}/app:1.0",
        }
    ]
    assert push.headers["content-type"] == "application/json"
    assert push.headers["authorization"] == "Bearer s3cret"
    assert signed_by(secret, push)
    tampered = Received(push.path, push.headers, push.body.replace(b"1.0", b"6.6"))
    assert not signed_by(secret, tampered)
    assert not signed_by("another secret", push)

    deleted = server.api(
        "DELETE",
        f"/projects/{project}/repositories/app/artifacts/{pushed.digest}",
        auth=server.admin,
    )
    assert deleted.status_code == 200, deleted.text
    gone = receiver.of_type(path, "DELETE_ARTIFACT").json()
    assert gone["event_data"]["resources"] == [
        {
            "digest": pushed.digest,
            "tag": pushed.digest,
            "resource_url": f"{server.host}/{project}/app@{pushed.digest}",
        }
    ]


def test_a_pull_by_tag_names_the_tag_pulled_and_its_digest(
    server: Harborlite, receiver: Receiver
) -> None:
    """Needs the app to hand its event bus to the pull recorder (``pulls.events``)."""
    project = server.unique("pulls")
    server.create_project(project)
    path = f"/ok/{project}"
    _, secret = make_policy(
        server, project, [{"type": "http", "address": receiver.url + path}], ["PULL_ARTIFACT"]
    )
    with Pusher(server) as pusher:
        pushed = pusher.image(f"{project}/app", "1.0")
        pusher.image(f"{project}/app", "1.1", seed="other")
    pull(server, f"{project}/app", "1.0")
    request = receiver.of_type(path, "PULL_ARTIFACT")
    assert signed_by(secret, request)
    pulled = request.json()
    assert pulled["operator"] == "admin"
    assert pulled["event_data"]["resources"] == [
        {
            "digest": pushed.digest,  # resolved from the tag pulled
            "tag": "1.0",  # the tag pulled (Harbor's #16923)
            "resource_url": f"{server.host}/{project}/app:1.0",
        }
    ]
    assert len(receiver.at(path)) == 1  # pushes are not pulls


def test_cloud_events_for_a_push_a_registry_delete_and_a_tag_delete(
    server: Harborlite, receiver: Receiver
) -> None:
    project = server.unique("clouds")
    project_id = server.create_project(project)
    path = f"/ok/{project}"
    target = {"type": "http", "address": receiver.url + path, "payload_format": "CloudEvents"}
    policy_id, secret = make_policy(server, project, [target])
    with Pusher(server) as pusher:
        pushed = pusher.image(f"{project}/app", "2.0")
        kept = pusher.image(f"{project}/app", "3.0", seed="kept")
        tagged = server.api(
            "POST",
            f"/projects/{project}/repositories/app/artifacts/{kept.digest}/tags",
            auth=server.admin,
            json={"name": "extra"},
        )
        assert tagged.status_code == 201, tagged.text
        token = server.token(f"repository:{project}/app:delete", server.admin)
        removed = httpx.delete(
            f"{server.url}/v2/{project}/app/manifests/{pushed.digest}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert removed.status_code == 202, removed.text

    def cloud(kind: str) -> tuple[Received, dict[str, Any]]:
        found = receiver.wait(path, 1)
        for _ in range(600):
            for request in receiver.at(path):
                event = request.json()
                if event["type"] == kind:
                    return request, event
            time.sleep(0.05)
        raise AssertionError(f"no {kind} in {[r.json()['type'] for r in found]}")

    request, event = cloud("harbor.artifact.pushed")
    assert request.headers["content-type"] == "application/cloudevents+json"
    assert signed_by(secret, request)
    assert list(event) == [
        "specversion",
        "id",
        "requestid",
        "source",
        "type",
        "time",
        "datacontenttype",
        "operator",
        "data",
    ]
    assert event["specversion"] == "1.0"
    assert uuid.UUID(event["id"]).version == 4
    assert event["requestid"]
    assert event["source"] == f"/projects/{project_id}/webhook/policies/{policy_id}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    assert event["datacontenttype"] == "application/json"
    assert event["operator"] == "admin"
    first = [r for r in event["data"]["resources"]]
    assert first[0]["digest"] in (pushed.digest, kept.digest)
    assert event["data"]["repository"]["repo_type"] == "private"

    _, deleted = cloud("harbor.artifact.deleted")
    assert deleted["data"]["resources"][0]["digest"] == pushed.digest

    untag = server.api(
        "DELETE",
        f"/projects/{project}/repositories/app/artifacts/{kept.digest}/tags/extra",
        auth=server.admin,
    )
    assert untag.status_code == 200, untag.text
    _, tag_gone = cloud("harbor.tag.deleted")  # beyond Harbor (#18820)
    assert tag_gone["data"]["resources"] == [
        {
            "digest": kept.digest,
            "tag": "extra",
            "resource_url": f"{server.host}/{project}/app:extra",
        }
    ]


def test_a_slack_target_gets_slacks_message(server: Harborlite, receiver: Receiver) -> None:
    project = server.unique("slack")
    server.create_project(project)
    path = f"/ok/{project}"
    make_policy(server, project, [{"type": "slack", "address": receiver.url + path}])
    with Pusher(server) as pusher:
        pusher.image(f"{project}/app", "1.0")
    message = receiver.wait(path)[0].json()
    blocks = message["blocks"]
    assert [block["type"] for block in blocks] == ["section", "section", "section"]
    assert blocks[0]["text"] == {"type": "mrkdwn", "text": "*Harbor webhook events*"}
    assert blocks[1]["text"]["text"].startswith("*event_type:* PUSH_ARTIFACT\n*occur_at:* <!date^")
    assert "*operator:* admin" in blocks[1]["text"]["text"]
    assert blocks[2]["text"]["text"].startswith("```")
    assert f'"repo_full_name": "{project}/app"' in blocks[2]["text"]["text"]


def test_a_failing_receiver_is_tried_again_three_times_and_the_api_shows_it(
    server: Harborlite, receiver: Receiver
) -> None:
    project = server.unique("failing")
    server.create_project(project)
    path = f"/fail/{project}"
    policy_id, _ = make_policy(
        server, project, [{"type": "http", "address": receiver.url + path}], ["PUSH_ARTIFACT"]
    )
    with Pusher(server) as pusher:
        pusher.image(f"{project}/app", "1.0")
    tries = receiver.wait(path, 4, timeout=30)
    assert len({t.headers["x-harborlite-delivery"] for t in tries}) == 1  # one delivery
    assert len({t.body for t in tries}) == 1

    base = f"/projects/{project}/webhook/policies/{policy_id}/executions"

    def finished() -> dict[str, Any] | None:
        listed = server.api("GET", base, auth=server.admin).json()
        return listed[0] if listed and listed[0]["status"] == "Error" else None

    from tests.support.polling import eventually

    execution = eventually(finished, "the execution ended in Error")
    assert execution["vendor_type"] == "WEBHOOK"
    assert execution["vendor_id"] == policy_id
    assert execution["trigger"] == "EVENT"
    assert execution["extra_attrs"] == {"event_type": "PUSH_ARTIFACT"}
    assert execution["metrics"]["error_task_count"] == 1
    time.sleep(3)  # no fifth try
    assert len(receiver.at(path)) == 4
    tasks = server.api("GET", f"{base}/{execution['id']}/tasks", auth=server.admin).json()
    assert len(tasks) == 1
    task = tasks[0]
    assert task["status"] == "Error"
    assert task["run_count"] == 4
    assert task["extra_attrs"]["status_code"] == 500
    assert task["extra_attrs"]["address"] == receiver.url + path
    assert isinstance(task["extra_attrs"]["duration_ms"], int)
    log = server.api("GET", f"{base}/{execution['id']}/tasks/{task['id']}/log", auth=server.admin)
    assert log.status_code == 200
    assert log.headers["content-type"].startswith("text/plain")
    assert "attempt 4: answered 500" in log.text
    assert '"type":"PUSH_ARTIFACT"' in log.text  # the body sent
    missing = server.api("GET", f"{base}/{execution['id']}/tasks/999999/log", auth=server.admin)
    assert missing.status_code == 404


def test_a_push_answers_while_the_receiver_hangs(server: Harborlite, receiver: Receiver) -> None:
    project = server.unique("hanging")
    server.create_project(project)
    path = f"/hang/{project}"
    make_policy(
        server, project, [{"type": "http", "address": receiver.url + path}], ["PUSH_ARTIFACT"]
    )
    receiver.release.clear()
    try:
        with Pusher(server) as pusher:
            pusher.image(f"{project}/app", "1.0")
            assert receiver.hanging.wait(30), "the first delivery never arrived"
            pusher.image(f"{project}/app", "2.0", seed="two")  # answered 201 meanwhile
            assert not receiver.release.is_set()
    finally:
        receiver.release.set()


def test_a_push_refused_by_the_quota_sends_quota_exceed(
    server: Harborlite, receiver: Receiver
) -> None:
    project = server.unique("quota")
    created = server.api(
        "POST", "/projects", auth=server.admin, json={"project_name": project, "storage_limit": 10}
    )
    assert created.status_code == 201, created.text
    path = f"/ok/{project}"
    target = {"type": "http", "address": receiver.url + path}
    make_policy(server, project, [target], ["QUOTA_EXCEED"])
    with Pusher(server) as pusher, pytest.raises(AssertionError):
        pusher.image(f"{project}/app", "1.0")  # its first blob is refused (403)
    event = receiver.of_type(path, "QUOTA_EXCEED").json()
    details = event["event_data"]["custom_attributes"]["Details"]
    assert "will exceed the configured upper limit of 10 B" in details
    assert event["event_data"]["repository"]["repo_full_name"] == f"{project}/app"


def test_a_push_near_the_quota_sends_quota_warning(server: Harborlite, receiver: Receiver) -> None:
    """A push that takes its project to 85 % of its limit or more is accepted and warned of
    (Harbor's QUOTA_WARNING); one that stays below is not."""
    measure = server.unique("measure")
    server.create_project(measure)
    with Pusher(server) as pusher:
        pusher.image(f"{measure}/app", "1.0")
    size = int(
        server.api("GET", f"/projects/{measure}/summary", auth=server.admin).json()["quota"][
            "used"
        ]["storage"]
    )
    project = server.unique("nearly")
    limit = int(size / 0.9)  # the same image takes 90 % of it
    created = server.api(
        "POST",
        "/projects",
        auth=server.admin,
        json={"project_name": project, "storage_limit": limit},
    )
    assert created.status_code == 201, created.text
    roomy = server.unique("roomy")
    created = server.api(
        "POST",
        "/projects",
        auth=server.admin,
        json={"project_name": roomy, "storage_limit": size * 4},
    )
    assert created.status_code == 201, created.text
    for name in (project, roomy):
        make_policy(
            server,
            name,
            [{"type": "http", "address": f"{receiver.url}/ok/{name}"}],
            ["QUOTA_WARNING", "PUSH_ARTIFACT"],
        )
    with Pusher(server) as pusher:
        pusher.image(f"{project}/app", "1.0")  # accepted: 90 % of the limit
        pusher.image(f"{roomy}/app", "1.0")  # 25 %: no warning
    event = receiver.of_type(f"/ok/{project}", "QUOTA_WARNING").json()
    details = event["event_data"]["custom_attributes"]["Details"]
    assert details.startswith("quota usage reach 85%: resource storage used ")
    assert event["event_data"]["repository"]["repo_full_name"] == f"{project}/app"
    receiver.of_type(f"/ok/{roomy}", "PUSH_ARTIFACT")  # its events were delivered...
    assert not [r for r in receiver.at(f"/ok/{roomy}") if r.json()["type"] == "QUOTA_WARNING"]


def test_a_retention_run_sends_one_tag_retention_event_with_what_it_deleted(
    server: Harborlite, receiver: Receiver
) -> None:
    project = server.unique("retain")
    project_id = server.create_project(project)
    path = f"/ok/{project}"
    make_policy(
        server, project, [{"type": "http", "address": receiver.url + path}], ["TAG_RETENTION"]
    )
    with Pusher(server) as pusher:
        old = pusher.image(f"{project}/app", "old")
        pusher.image(f"{project}/app", "new", seed="newer")
    everything = {"kind": "doublestar", "decoration": "matches", "pattern": "**"}
    rule = {
        "disabled": False,
        "action": "retain",
        "template": "latestPushedK",
        "params": {"latestPushedK": 1},
        "tag_selectors": [everything],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
        },
    }
    body = {
        "algorithm": "or",
        "rules": [rule],
        "trigger": {"kind": "Schedule", "settings": {"cron": ""}, "references": {}},
        "scope": {"level": "project", "ref": project_id},
    }
    created = server.api("POST", "/retentions", auth=server.admin, json=body)
    assert created.status_code == 201, created.text
    retention_id = created.headers["Location"].rsplit("/", 1)[1]
    run = server.api(
        "POST",
        f"/retentions/{retention_id}/executions",
        auth=server.admin,
        json={"dry_run": False},
    )
    assert run.status_code == 201, run.text
    event = receiver.of_type(path, "TAG_RETENTION", timeout=60).json()
    retention = event["event_data"]["retention"]
    assert retention["project_name"] == project
    assert (retention["total"], retention["retained"]) == (2, 1)
    assert retention["hook_status"] == "SUCCESS"
    assert retention["deleted_artifacts"] == [
        {
            "type": "image",
            "status": "SUCCESS",
            "name_space": project,
            "repository": "app",
            "tag": "old",
            "digest": old.digest,
        }
    ]
    assert len(receiver.at(path)) == 1  # once per execution
