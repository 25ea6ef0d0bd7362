"""SQLite itself, against a real server on it (``harborlite_sqlite``): ids of deleted rows are
never reused, and concurrent writers (first pushes to one repository) all succeed."""

from __future__ import annotations

import concurrent.futures
import json

import httpx

from tests.api.pushing import OCI_MANIFEST, Pusher
from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"


def test_a_new_project_never_gets_a_deleted_projects_id_nor_its_audit_log(
    harborlite_sqlite: Harborlite,
) -> None:
    server = harborlite_sqlite
    admin = server.admin
    secret = server.unique("secretproj")
    victim = server.unique("victim")
    server.create_user(victim, PASSWORD)
    secret_id = server.create_project(secret)  # newest project: the highest id
    server.add_member(secret, victim, 2)  # audit: create member secret/victim
    with Pusher(server) as pusher:
        pushed = pusher.image(f"{secret}/app", "v1")
    assert (
        server.api("DELETE", f"/projects/{secret}/repositories/app", auth=admin).status_code == 200
    )
    gone = server.api("DELETE", f"/projects/{secret}", auth=admin)
    assert gone.status_code == 200, gone.text

    # Any signed-in user may create a project; it becomes its ProjectAdmin.
    mallory = server.unique("mallory")
    server.create_user(mallory, PASSWORD)
    created = server.api(
        "POST",
        "/projects",
        auth=(mallory, PASSWORD),
        json={"project_name": server.unique("mine"), "metadata": {"public": "false"}},
    )
    assert created.status_code == 201, created.text
    new_id = int(created.headers["Location"].rsplit("/", 1)[1])
    new_name = server.api("GET", f"/projects/{new_id}", auth=admin).json()["name"]

    logs = server.api(
        "GET", f"/projects/{new_name}/logs", auth=(mallory, PASSWORD), params={"page_size": 100}
    )
    assert logs.status_code == 200, logs.text
    leaked = [e for e in logs.json() if secret in e["resource"]]
    everything = server.api(
        "GET", "/audit-logs", auth=(mallory, PASSWORD), params={"page_size": 100}
    ).json()
    leaked += [e for e in everything if secret in e["resource"]]
    assert not leaked, (
        f"project id {secret_id} reused as {new_id}: mallory reads the deleted private "
        f"project's audit log ({pushed.digest[:19]}...): {json.dumps(leaked[:3])}"
    )


def test_concurrent_first_pushes_to_one_repository_all_succeed(
    harborlite_sqlite: Harborlite,
) -> None:
    server = harborlite_sqlite
    project = server.unique("race")
    server.create_project(project)
    repository = f"{project}/app"
    with Pusher(server) as pusher:
        headers = pusher._headers(repository)
        # blobs and a manifest body, pushed once by digest into a *different* repo so the
        # target repository does not exist in the index yet
        seed = pusher.image(f"{project}/seed", "v1")
    token = server.token(
        [f"repository:{repository}:pull,push", f"repository:{project}/seed:pull"], server.admin
    )
    auth = {"Authorization": f"Bearer {token}"}
    body = json.loads(seed.manifest)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for blob in [body["config"], *body["layers"]]:
            mounted = client.post(
                f"/v2/{repository}/blobs/uploads/",
                params={"mount": blob["digest"], "from": f"{project}/seed"},
                headers=auth,
            )
            assert mounted.status_code == 201, mounted.text

    def put(tag: str) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            return client.put(
                f"/v2/{repository}/manifests/{tag}",
                content=seed.manifest,
                headers={**auth, "Content-Type": OCI_MANIFEST},
            )

    tags = [f"t{n}" for n in range(12)]
    with concurrent.futures.ThreadPoolExecutor(len(tags)) as pool:
        answers = list(pool.map(put, tags))
    bad = [
        (a.status_code, a.headers.get("content-type"), a.text[:80])
        for a in answers
        if a.status_code != 201
    ]
    assert not bad, f"concurrent pushes failed: {bad}\n{server.log()}"
    listed = server.api(
        "GET",
        f"/projects/{project}/repositories/app/artifacts/{seed.digest}/tags",
        auth=server.admin,
        params={"page_size": 100},
    )
    assert sorted(t["name"] for t in listed.json()) == sorted(tags)
    del headers
