"""What one push of an image asks PostgreSQL, counted inside a real ``harborlite serve``
(:mod:`tests.scale_pool.sql_counter`): the transactions, the statements, the pings.

A push of a small image (two blobs, each a POST and a PUT, then the manifest PUT) into an
unlimited project: the upload starts ask nothing (the project's limit is known from the last
second), each blob completion is one transaction, the manifest one (its quota rows, the
artifact, the tag and the audit entry together), and the event subscribers (scan on push,
webhooks, replication) ask nothing when nothing wants the push. A connection in steady use is
not pinged. A webhook policy created for the project is seen at once, and the next push is
handed to it; a limited project still counts every upload and manifest before the registry
stores it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.pushing import OCI_MANIFEST, Pusher, digest_of, image_manifest
from tests.harness import ROOT, Harborlite, own_harborlite
from tests.support.processes import PostgresServer

COUNTING = Path(__file__).parent / "counting"
PROJECT = "counted"
# the bounds this module holds harborlite to, for the push of one small image (before this
# change: 9 transactions and 44 statements, with 7 pings, and a query per subscriber)
TRANSACTIONS = 3
# what each subscriber asks about an event it may want (scan on push, replication, webhooks)
PER_EVENT = (
    "FROM projects JOIN repositories",
    "replication_policies.id IN",
    "webhook_policies.project_id =",
)
# their directories' loads
DIRECTORY_LOADS = (
    "sql: SELECT projects.name, projects.metadata",
    "sql: SELECT replication_policies.",
    "sql: SELECT projects.name, webhook_policies.event_types",
)
STATEMENTS = 16


@pytest.fixture(scope="module")
def counted(postgres: PostgresServer) -> Iterator[Harborlite]:
    url = postgres.create_database("push_statements")
    path = os.pathsep.join(p for p in (str(COUNTING), str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {"PYTHONPATH": path, "HARBORLITE_TEST_COUNT_SQL": "1"}
    for server in own_harborlite(database_url=url, extra_env=env):
        server.create_project(PROJECT)
        yield server


def counts(server: Harborlite, name: str) -> dict[str, int]:
    """The counts of requests marked ``name``, once they stop growing (the subscribers run
    after the answer)."""
    last: dict[str, int] | None = None
    deadline = time.monotonic() + 10
    while True:
        now = httpx.get(f"{server.url}/__sql_counts/{name}", timeout=5).json()
        if now == last or time.monotonic() > deadline:
            return dict(now)
        last = now
        time.sleep(0.3)


def push(server: Harborlite, repository: str, seed: str, name: str) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"a layer of {repository} {seed}".encode() * 16
    with Pusher(server) as pusher:
        headers = {**pusher._headers(repository), "X-Count-Sql": name}
        pusher.blob(repository, config, headers)
        pusher.blob(repository, layer, headers)
        manifest = image_manifest(config, layer)
        pusher.manifest(repository, "v1", manifest, OCI_MANIFEST, headers)
    return digest_of(manifest)


def statements(found: dict[str, int], *needles: str) -> list[str]:
    return [k for k in found if k.startswith("sql: ") and any(n in k for n in needles)]


def test_a_push_costs_few_transactions_and_no_subscriber_query(counted: Harborlite) -> None:
    push(counted, f"{PROJECT}/warm", "warm", "warm")  # directories and limits loaded
    pushes = []
    for n in range(3):  # the limit is re-read once a second: a slow machine sees one more
        push(counted, f"{PROJECT}/app{n}", str(n), f"push-{n}")
        pushes.append(counts(counted, f"push-{n}"))
    for found in pushes:  # nothing wants the pushes: no subscriber asked about one
        assert statements(found, *PER_EVENT) == [], json.dumps(found, indent=1)
        for load in DIRECTORY_LOADS:  # what they know is reloaded every few seconds
            assert sum(n for k, n in found.items() if k.startswith(load)) <= 1, found
    found = min(pushes, key=lambda c: (c.get("transactions", 0), c.get("statements", 0)))
    shown = json.dumps(found, indent=1)
    assert found.get("transactions", 0) <= TRANSACTIONS, shown
    assert found.get("statements", 0) <= STATEMENTS, shown
    assert found.get("pings", 0) == 0, shown  # connections in steady use
    # every index write is there: the artifact, its tag, its audit entry, its quota rows
    written = " ".join(statements(found, "INSERT INTO"))
    for table in ("artifacts", "tags", "audit_logs", "quota_blobs", "quota_references"):
        assert f"INSERT INTO {table} " in written, shown
    for n in range(3):
        listed = counted.api(
            "GET", f"/projects/{PROJECT}/repositories/app{n}/artifacts/v1", auth=counted.admin
        )
        assert listed.status_code == 200, listed.text


def test_a_policy_made_here_is_heard_by_the_next_push(counted: Harborlite) -> None:
    created = counted.api(
        "POST",
        f"/projects/{PROJECT}/webhook/policies",
        auth=counted.admin,
        json={
            "name": "pushes",
            "enabled": True,
            "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"type": "http", "address": "http://127.0.0.1:9/hook"}],
        },
    )
    assert created.status_code == 201, created.text
    push(counted, f"{PROJECT}/heard", "heard", "push-heard")
    found = counts(counted, "push-heard")
    assert statements(found, "webhook_policies"), json.dumps(found, indent=1)
    tasks = counted.api("GET", f"/projects/{PROJECT}/webhook/policies", auth=counted.admin)
    assert tasks.status_code == 200


def test_a_limit_set_here_applies_to_the_next_upload_and_manifest(counted: Harborlite) -> None:
    project = "counted-limited"
    project_id = counted.create_project(project)
    repository = f"{project}/big"
    with Pusher(counted) as pusher:
        headers = pusher._headers(repository)
        pusher.blob(repository, b"small", headers)  # the project is known unlimited now
        quotas = counted.api(
            "GET", f"/quotas?reference=project&reference_id={project_id}", auth=counted.admin
        )
        assert quotas.status_code == 200, quotas.text
        (quota,) = quotas.json()
        updated = counted.api(
            "PUT", f"/quotas/{quota['id']}", auth=counted.admin, json={"hard": {"storage": 100}}
        )
        assert updated.status_code == 200, updated.text
        started = pusher.client.post(f"/v2/{repository}/blobs/uploads/", headers=headers)
        assert started.status_code == 202  # within its limit: the upload may start
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        data = b"x" * 200
        done = pusher.client.put(
            f"{location}{separator}digest={digest_of(data)}",
            content=data,
            headers={**headers, "Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 403, done.text  # past its limit: refused before storing
        assert "exceed the configured upper limit" in done.text
        config = b'{"architecture":"amd64","os":"linux"}'
        manifest = image_manifest(config, b"y" * 300)
        answer = pusher.client.put(
            f"/v2/{repository}/manifests/v1",
            content=manifest,
            headers={**headers, "Content-Type": OCI_MANIFEST},
        )
        assert answer.status_code == 403, answer.text
        assert "exceed the configured upper limit" in answer.text


def test_a_push_into_a_repository_that_exists_reads_it_once(counted: Harborlite) -> None:
    """The repository, the artifact and the tag are read in one statement, whether the image
    and the tag are new, the tag moves onto a new image, or back onto one indexed before."""
    project = "counted-again"  # no webhook policy: only the push's own statements
    counted.create_project(project)
    repository = f"{project}/again"
    push(counted, repository, "a", "again-a")  # a fresh repository, its tag v1
    manifests: dict[str, bytes] = {}
    for seed, tag in (("b", "v2"), ("c", "v1"), ("b", "v1")):
        name = f"again-{seed}-{tag}"
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
        layer = f"a layer of {repository} {seed}".encode() * 16
        manifest = manifests.setdefault(seed, image_manifest(config, layer))
        with Pusher(counted) as pusher:
            headers = {**pusher._headers(repository), "X-Count-Sql": name}
            pusher.blob(repository, config, headers)
            pusher.blob(repository, layer, headers)
            pusher.manifest(repository, tag, manifest, OCI_MANIFEST, headers)
        found = counts(counted, name)
        shown = json.dumps(found, indent=1)
        reads = [
            k for k in found if k.startswith(("sql: SELECT repositories.", "sql: SELECT tags."))
        ]
        reads += [k for k in found if k.startswith("sql: SELECT artifacts.id, artifacts.repo")]
        assert len(reads) == 1 and found[reads[0]] == 1, shown  # all three at once
        assert "LEFT OUTER JOIN tags" in reads[0], shown
        listed = counted.api(
            "GET", f"/projects/{project}/repositories/again/artifacts/{tag}", auth=counted.admin
        )
        assert listed.status_code == 200, listed.text
        assert listed.json()["digest"] == digest_of(manifest), listed.text
    tags = counted.api(
        "GET", f"/projects/{project}/repositories/again/artifacts/v2", auth=counted.admin
    )
    assert {t["name"] for t in tags.json()["tags"]} == {"v1", "v2"}, tags.text
