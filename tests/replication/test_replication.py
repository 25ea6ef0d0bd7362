"""Replication end to end, with real processes: two harborlite servers (each with its own
registry) and a bare ``docker-registry``.

- push-based, manual: a multi-arch index with a legacy cosign signature, from one harborlite to
  the other, digests identical, the signature beside it on the far side, ``dest_namespace``
  flattening applied; run again, nothing is sent twice;
- pull-based from the bare registry with a tag filter;
- event-based: a push and a delete replicated within seconds;
- scheduled: the policy's schedule fires;
- a task whose destination is down is retried and succeeds once it is back.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.api.pushing import Pusher
from tests.harness import Harborlite
from tests.replication.replicas import (
    Registry,
    add_policy,
    add_registry,
    executions_of,
    start,
    task_log,
    tasks,
    wait_done,
)
from tests.signatures.cosign_format import signature_tag
from tests.support.polling import eventually
from tests.support.processes import RegistryServer
from tests.webhooks.receiver import started_receiver
from tests.webhooks.test_delivery import make_policy


@pytest.fixture(scope="module")
def target_id(source: Harborlite, target: Harborlite) -> int:
    return add_registry(source, "far", "harbor", target.url, target.admin)


def test_push_based_multi_arch_signed(
    source: Harborlite, target: Harborlite, target_id: int
) -> None:
    source.create_project("ship")
    target.create_project("dock")
    with Pusher(source) as pusher:
        index = pusher.index("ship/team/app", "v1")
    near, far = Registry(source.url, source), Registry(target.url, target)
    signature = near.sign("ship/team/app", index.digest)
    policy = add_policy(
        source,
        name="ship-to-dock",
        dest_registry={"id": target_id},
        dest_namespace="dock",
        dest_namespace_replace_count=1,
        filters=[{"type": "name", "value": "ship/**"}],
    )
    run = wait_done(source, start(source, policy))
    assert run["status"] == "Succeed", (run, source.log())
    assert (run["total"], run["succeed"], run["failed"]) == (1, 1, 0)
    assert run["extra_attrs"]["bytes"] > 0
    (task,) = tasks(source, run["id"])
    assert task["src_resource"] == "ship/team/app:[v1]"
    assert task["dst_resource"] == "dock/team/app:[v1]"
    assert task["status"] == "Succeed" and task["bytes"] > 0
    assert "copied as dock/team/app tags v1, with 1 accessory" in task_log(
        source, run["id"], task["id"]
    )
    assert far.digest("dock/team/app", "v1") == index.digest
    assert far.manifest("dock/team/app", "v1") == index.manifest
    for child in near.manifest("ship/team/app", "v1").decode().split('"digest": "')[1:]:
        child_digest = child.split('"')[0]
        assert far.digest("dock/team/app", child_digest) == child_digest
    assert far.digest("dock/team/app", signature_tag(index.digest)) == signature
    # the far side indexed it as a signed artifact
    shown = target.api(
        "GET",
        "/projects/dock/repositories/team%252Fapp/artifacts/v1",
        auth=target.admin,
        params={"with_accessory": "true"},
    ).json()
    assert shown["digest"] == index.digest
    assert [a["digest"] for a in shown.get("accessories") or []] == [signature]

    again = wait_done(source, start(source, policy))
    assert again["status"] == "Succeed"
    assert again["extra_attrs"]["bytes"] == 0  # every blob was there already
    (second,) = tasks(source, again["id"])
    assert "already on the destination: not copied again" in task_log(
        source, again["id"], second["id"]
    )
    near.close()
    far.close()


def test_pull_based_with_tag_filter(source: Harborlite, bare: RegistryServer) -> None:
    upstream = Registry(bare.url)
    wanted = {
        tag: upstream.push_image("library/web", tag, os.urandom(2048)) for tag in ("1.0", "1.1")
    }
    upstream.push_image("library/web", "2.0", os.urandom(2048))
    upstream.push_image("other/thing", "1.0", os.urandom(512))
    source.create_project("mirror")
    bare_id = add_registry(source, "bare", "docker-registry", bare.url)
    policy = add_policy(
        source,
        name="pull-web",
        src_registry={"id": bare_id},
        dest_namespace="mirror",
        filters=[
            {"type": "name", "value": "library/**"},
            {"type": "tag", "decoration": "matches", "value": "1.*"},
        ],
    )
    run = wait_done(source, start(source, policy))
    assert run["status"] == "Succeed", (run, source.log())
    assert run["total"] == 2
    local = Registry(source.url, source)
    for tag, digest in wanted.items():
        assert local.digest("mirror/web", tag) == digest
    assert local.digest("mirror/web", "2.0") is None
    assert local.digest("mirror/thing", "1.0") is None
    # it went through harborlite's /v2/: indexed, visible in the API
    listed = source.api("GET", "/projects/mirror/repositories/web/artifacts", auth=source.admin)
    assert sorted(d["digest"] for d in listed.json()) == sorted(wanted.values())
    local.close()


def test_event_based_push_and_delete(
    source: Harborlite, target: Harborlite, target_id: int
) -> None:
    source.create_project("evt")
    target.create_project("evtcopy")
    policy = add_policy(
        source,
        name="events",
        dest_registry={"id": target_id},
        dest_namespace="evtcopy",
        dest_namespace_replace_count=1,
        filters=[{"type": "name", "value": "evt/**"}],
        trigger={"type": "event_based"},
        replicate_deletion=True,
    )
    far = Registry(target.url, target)
    with Pusher(source) as pusher:
        pushed = pusher.image("evt/app", "v1", seed="event")
    eventually(
        lambda: far.digest("evtcopy/app", "v1") == pushed.digest or None,
        "the pushed image on the far side",
        timeout=20,
    )
    near = Registry(source.url, source)
    assert near.delete("evt/app", pushed.digest) == 202
    eventually(
        lambda: far.digest("evtcopy/app", pushed.digest) is None or None,
        "the deleted image gone on the far side",
        timeout=20,
    )
    runs = executions_of(source, policy)
    assert {run["trigger"] for run in runs} == {"event_based"}
    # the delete is visible on the far side a moment before its execution records its end
    ended = [wait_done(source, run["id"]) for run in runs]
    assert all(run["status"] == "Succeed" for run in ended), ended
    near.close()
    far.close()


def _fire_now(server: Harborlite, policy_id: int) -> None:
    """Move the policy's schedule to the past, as if its cron time had come (Harbor's crons
    fire once a minute at most: the first field must be 0)."""
    with sqlite3.connect(Path(server.data_dir) / "harborlite.db") as db:
        (seen,) = db.execute(
            "SELECT next_run FROM job_schedules WHERE kind='replication' AND ref=?",
            (str(policy_id),),
        ).fetchone()
        assert seen is not None
        past = "2000-01-01" + str(seen)[10:]
        db.execute(
            "UPDATE job_schedules SET next_run=? WHERE kind='replication' AND ref=?",
            (past, str(policy_id)),
        )


def test_scheduled_policy_fires(source: Harborlite, target: Harborlite, target_id: int) -> None:
    source.create_project("cron")
    target.create_project("croncopy")
    with Pusher(source) as pusher:
        pushed = pusher.image("cron/app", "v1", seed="cron")
    policy = add_policy(
        source,
        name="scheduled",
        dest_registry={"id": target_id},
        dest_namespace="croncopy",
        filters=[{"type": "name", "value": "cron/**"}],
        trigger={"type": "scheduled", "trigger_settings": {"cron": "0 0 3 * * *"}},
    )
    assert executions_of(source, policy) == []
    _fire_now(source, policy)
    runs = eventually(lambda: executions_of(source, policy) or None, "a scheduled run", 20)
    assert runs[0]["trigger"] == "scheduled"
    assert wait_done(source, runs[0]["id"])["status"] == "Succeed"
    far = Registry(target.url, target)
    assert far.digest("croncopy/app", "v1") == pushed.digest
    far.close()


def test_failed_task_retried_when_the_destination_is_back(
    source: Harborlite, tmp_path: Path
) -> None:
    workdir = tmp_path / "flaky"
    registry = RegistryServer(workdir)
    port = registry.port
    flaky_id = add_registry(source, "flaky", "docker-registry", registry.url)
    source.create_project("retry")
    with Pusher(source) as pusher:
        pushed = pusher.image("retry/app", "v1", seed="retry")
    policy = add_policy(
        source,
        name="to-flaky",
        dest_registry={"id": flaky_id},
        filters=[{"type": "name", "value": "retry/**"}],
    )
    registry.stop()
    run_id = start(source, policy)

    def retrying() -> bool | None:
        found = tasks(source, run_id)
        return (bool(found) and "trying again" in task_log(source, run_id, found[0]["id"])) or None

    eventually(retrying, "a failed attempt and a retry", timeout=20)
    registry = RegistryServer(workdir, port=port)
    try:
        run = wait_done(source, run_id)
        assert run["status"] == "Succeed", (run, source.log())
        (task,) = tasks(source, run_id)
        assert task["attempts"] >= 2
        assert Registry(registry.url).digest("retry/app", "v1") == pushed.digest
    finally:
        registry.stop()


def test_shared_blobs_sent_once(source: Harborlite, target: Harborlite, target_id: int) -> None:
    """Two repositories holding the same image: its blobs cross the wire once, the second
    repository mounts them from the first on the destination."""
    source.create_project("twins")
    target.create_project("twincopy")
    near = Registry(source.url, source)
    layer = os.urandom(4096)
    digests = {near.push_image(f"twins/{name}", "v1", layer) for name in ("a", "b")}
    assert len(digests) == 1
    policy = add_policy(
        source,
        name="twins",
        dest_registry={"id": target_id},
        dest_namespace="twincopy",
        filters=[{"type": "name", "value": "twins/**"}],
    )
    run = wait_done(source, start(source, policy))
    assert run["status"] == "Succeed", run
    config = b'{"architecture":"amd64","os":"linux","tag":"v1"}'
    assert run["extra_attrs"]["bytes"] == len(layer) + len(config)
    logs = [task_log(source, run["id"], task["id"]) for task in tasks(source, run["id"])]
    assert sum(log.count("mounted from twincopy/a") for log in logs) == 2  # config, layer
    far = Registry(target.url, target)
    assert {far.digest(f"twincopy/{name}", "v1") for name in ("a", "b")} == digests
    # a new tag sharing the layer: only its config is sent (the destination has the layer)
    newer = near.push_image("twins/a", "v2", layer)
    again = wait_done(source, start(source, policy))
    assert again["status"] == "Succeed", again
    assert again["extra_attrs"]["bytes"] == len(config.replace(b"v1", b"v2"))
    assert far.digest("twincopy/a", "v2") == newer
    near.close()
    far.close()


def test_override_off_keeps_the_destination_tag(
    source: Harborlite, target: Harborlite, target_id: int
) -> None:
    source.create_project("ov")
    target.create_project("ovcopy")
    near, far = Registry(source.url, source), Registry(target.url, target)
    ours = near.push_image("ov/app", "v1", os.urandom(1024))
    theirs = far.push_image("ovcopy/app", "v1", os.urandom(1024))
    body = {
        "dest_registry": {"id": target_id},
        "dest_namespace": "ovcopy",
        "filters": [{"type": "name", "value": "ov/**"}],
    }
    kept = add_policy(source, name="ov-off", override=False, **body)
    run = wait_done(source, start(source, kept))
    assert run["status"] == "Succeed", run
    (task,) = tasks(source, run["id"])
    assert "override is off: kept" in task_log(source, run["id"], task["id"])
    assert far.digest("ovcopy/app", "v1") == theirs
    assert far.digest("ovcopy/app", ours) == ours  # the artifact itself was copied
    replaced = add_policy(source, name="ov-on", override=True, **body)
    assert wait_done(source, start(source, replaced))["status"] == "Succeed"
    assert far.digest("ovcopy/app", "v1") == ours
    near.close()
    far.close()


def test_tag_delete_replicated_to_a_bare_registry(source: Harborlite, bare: RegistryServer) -> None:
    """Beyond Harbor: a tag deleted here is deleted on a non-Harbor destination too (which
    cannot delete a tag alone: the manifest goes, no other tag naming it)."""
    source.create_project("tagdel")
    endpoint = add_registry(source, "bare-deletes", "docker-registry", bare.url)
    add_policy(
        source,
        name="tag-deletes",
        dest_registry={"id": endpoint},
        filters=[{"type": "name", "value": "tagdel/**"}],
        trigger={"type": "event_based"},
        replicate_deletion=True,
    )
    near, far = Registry(source.url, source), Registry(bare.url)
    digest = near.push_image("tagdel/app", "v1", os.urandom(1024))
    eventually(lambda: far.digest("tagdel/app", "v1") == digest or None, "the copy", 20)
    deleted = source.api(
        "DELETE", "/projects/tagdel/repositories/app/artifacts/v1/tags/v1", auth=source.admin
    )
    assert deleted.status_code == 200, deleted.text
    eventually(lambda: far.digest("tagdel/app", digest) is None or None, "the delete", 20)
    near.close()
    far.close()


def test_a_replication_is_told_to_the_source_projects_webhooks(
    source: Harborlite, target: Harborlite, target_id: int
) -> None:
    """A push-based run sends Harbor's REPLICATION event, one per task, to the webhooks of the
    source project (the local side), with the execution and task ids and the job status."""
    source.create_project("hooked")
    target.create_project("hookedcopy")
    near = Registry(source.url, source)
    digest = near.push_image("hooked/app", "v1", os.urandom(1024))
    with started_receiver() as receiver:
        make_policy(
            source,
            "hooked",
            [{"type": "http", "address": f"{receiver.url}/ok/replication"}],
            ["REPLICATION"],
        )
        policy = add_policy(
            source,
            name="hooked",
            dest_registry={"id": target_id},
            dest_namespace="hookedcopy",
            filters=[{"type": "name", "value": "hooked/**"}],
        )
        run = wait_done(source, start(source, policy))
        assert run["status"] == "Succeed", run
        told = receiver.of_type("/ok/replication", "REPLICATION").json()
    near.close()
    replication = told["event_data"]["replication"]
    assert replication["execution_id"] == run["id"]
    assert replication["task_id"] == tasks(source, run["id"])[0]["id"]
    assert replication["job_status"] == "Succeed"
    assert replication["dest_resource"]["namespace"] == "hookedcopy"
    assert Registry(target.url, target).digest("hookedcopy/app", "v1") == digest
