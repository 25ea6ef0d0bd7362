"""The destination project is created when it is missing, as Harbor does (real processes: two
harborlite servers, each with its registry, and a bare ``docker-registry``):

- push-based into a namespace the far harborlite does not have: created there through its
  projects API (private), the content in it, the task log saying so;
- pull-based from the bare registry into a namespace this harborlite does not have: created
  here through the projects domain as ``replication`` (audited, with its quota), listed in the
  API with the content;
- the far side's user may not create projects (a project robot): the task fails, not retried,
  with the reason in its log.
"""

from __future__ import annotations

import os

import pytest

from tests.harness import Harborlite
from tests.replication.replicas import (
    Registry,
    add_policy,
    add_registry,
    start,
    task_log,
    tasks,
    wait_done,
)
from tests.support.processes import RegistryServer


def test_push_based_creates_the_missing_project_on_the_far_side(
    source: Harborlite, target: Harborlite
) -> None:
    far_id = add_registry(source, "far-admin", "harbor", target.url, target.admin)
    source.create_project("origin")
    near = Registry(source.url, source)
    first = near.push_image("origin/app", "v1", os.urandom(1024))
    second = near.push_image("origin/tool", "v1", os.urandom(1024))
    assert target.api("GET", "/projects/landing", auth=target.admin).status_code == 404
    policy = add_policy(
        source,
        name="to-landing",
        dest_registry={"id": far_id},
        dest_namespace="landing",
        dest_namespace_replace_count=1,
        filters=[{"type": "name", "value": "origin/**"}],
    )
    run = wait_done(source, start(source, policy))
    assert run["status"] == "Succeed", (run, source.log())
    far = Registry(target.url, target)
    assert far.digest("landing/app", "v1") == first
    assert far.digest("landing/tool", "v1") == second
    shown = target.api("GET", "/projects/landing", auth=target.admin)
    assert shown.status_code == 200, shown.text
    assert shown.json()["metadata"].get("public") == "false"
    logs = [task_log(source, run["id"], task["id"]) for task in tasks(source, run["id"])]
    # once per namespace per execution, before the first copy into it
    assert sum("created the project landing on far-admin" in log for log in logs) == 1
    near.close()
    far.close()


def test_pull_based_creates_the_missing_local_project(
    source: Harborlite, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with RegistryServer(tmp_path_factory.mktemp("bare")) as bare:
        upstream = Registry(bare.url)
        digest = upstream.push_image("library/web", "1.0", os.urandom(2048))
        bare_id = add_registry(source, "bare", "docker-registry", bare.url)
        assert source.api("GET", "/projects/fetched", auth=source.admin).status_code == 404
        policy = add_policy(
            source,
            name="pull-into-new",
            src_registry={"id": bare_id},
            dest_namespace="fetched",
            filters=[{"type": "name", "value": "library/**"}],
        )
        run = wait_done(source, start(source, policy))
        upstream.close()
    assert run["status"] == "Succeed", (run, source.log())
    (task,) = tasks(source, run["id"])
    assert "created the project fetched here" in task_log(source, run["id"], task["id"])
    project = source.api("GET", "/projects/fetched", auth=source.admin)
    assert project.status_code == 200, project.text
    assert project.json()["metadata"].get("public") == "false"
    listed = source.api("GET", "/projects/fetched/repositories/web/artifacts", auth=source.admin)
    assert [a["digest"] for a in listed.json()] == [digest]
    quotas = source.api(
        "GET",
        "/quotas",
        auth=source.admin,
        params={"reference": "project", "reference_id": project.json()["project_id"]},
    )
    assert quotas.status_code == 200 and len(quotas.json()) == 1, quotas.text
    audit = source.api(
        "GET",
        "/audit-logs",
        auth=source.admin,
        params={"q": "operation=create,resource=fetched"},
    ).json()
    assert [(e["username"], e["resource_type"]) for e in audit] == [("replication", "project")]


def test_a_far_user_who_may_not_create_projects_fails_the_task(
    source: Harborlite, target: Harborlite
) -> None:
    target.create_project("robotland")
    made = target.api(
        "POST",
        "/robots",
        auth=target.admin,
        json={
            "name": "rep",
            "description": "",
            "level": "project",
            "duration": -1,
            "permissions": [
                {
                    "kind": "project",
                    "namespace": "robotland",
                    "access": [
                        {"resource": "repository", "action": "pull"},
                        {"resource": "repository", "action": "push"},
                    ],
                }
            ],
        },
    )
    assert made.status_code == 201, made.text
    robot = (made.json()["name"], made.json()["secret"])
    far_id = add_registry(source, "far-robot", "harbor", target.url, robot)
    source.create_project("refused")
    near = Registry(source.url, source)
    near.push_image("refused/app", "v1", os.urandom(1024))
    near.close()
    policy = add_policy(
        source,
        name="into-forbidden",
        dest_registry={"id": far_id},
        dest_namespace="forbidden",
        dest_namespace_replace_count=1,
        filters=[{"type": "name", "value": "refused/**"}],
    )
    run = wait_done(source, start(source, policy))
    assert run["status"] == "Failed", run
    (task,) = tasks(source, run["id"])
    assert task["status"] == "Failed"
    log = task_log(source, run["id"], task["id"])
    assert "the destination project forbidden does not exist and cannot be created" in log, log
    assert "create project forbidden: access denied" in log, log
    assert "trying again" not in log, log  # a refusal: not retried
    assert target.api("GET", "/projects/forbidden", auth=target.admin).status_code == 404
