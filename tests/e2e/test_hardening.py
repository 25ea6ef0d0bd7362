"""Hardening found by review, each shown against a real server (harborlite_sqlite): ids never
reused, concurrent first pushes, client input that must not become a 5xx, bounded bodies, and a
deleted project's layers."""

from __future__ import annotations

import concurrent.futures
import json

import httpx

from tests.api.pushing import OCI_MANIFEST, Pusher
from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"


# --- F1: SQLite reuses a deleted project's id; its audit log goes to the new project ---------


def test_deleted_project_audit_log_not_inherited_by_new_project(
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


# --- F2: concurrent first pushes to one repository: one client gets a 500, not in envelope ----


def test_concurrent_manifest_pushes_to_new_repository_all_succeed(
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


# --- F3: client input turned into a 5xx ------------------------------------------------------


def test_huge_page_number_is_a_400_not_a_500(harborlite_sqlite: Harborlite) -> None:
    answer = harborlite_sqlite.api(
        "GET", "/projects", auth=harborlite_sqlite.admin, params={"page": "9" * 30}
    )
    assert answer.status_code == 400, (answer.status_code, answer.text)


# --- F4: token service errors outside its envelope; form bodies -----------------------------


def test_token_post_with_oversized_field_answers_in_the_envelope(
    harborlite_sqlite: Harborlite,
) -> None:
    with harborlite_sqlite.client() as client:
        answer = client.post(
            "/service/token",
            data={"grant_type": "password", "username": "admin", "password": "x" * (2 << 20)},
        )
    assert answer.status_code in (400, 401, 413)
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.text[:200]
    assert "errors" in answer.json()


# --- F6: an unauthenticated form POST makes the server hold hundreds of MB ------------------


def test_unauthenticated_token_post_body_is_bounded(harborlite_sqlite: Harborlite) -> None:
    server = harborlite_sqlite
    field = b"x" * (1000 * 1024)  # just under Starlette's 1 MiB per-field limit

    def body() -> object:
        yield b"grant_type=password&username=nobody&password=x"
        for n in range(300):  # 300 fields of ~1 MB: ~300 MB, no credentials needed
            yield b"&f%d=" % n + field

    with httpx.Client(base_url=server.url, timeout=120) as client:
        answer = client.post(
            "/service/token",
            content=body(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    # refused once 64 KiB arrived, in the envelope, however long the client goes on
    assert answer.status_code == 413
    assert answer.json()["errors"][0]["code"] == "PAYLOAD_TOO_LARGE"
    big = server.api(
        "POST",
        "/users",
        auth=server.admin,
        content=b"{" + b" " * (2 << 20) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 413


# --- F7: blobs of a deleted private project stay readable by whoever re-creates its name ----


def test_blobs_of_deleted_project_not_served_to_new_owner_of_its_name(
    harborlite_sqlite: Harborlite,
) -> None:
    server = harborlite_sqlite
    admin = server.admin
    secret = server.unique("gone")
    server.create_project(secret)
    with Pusher(server) as pusher:
        pushed = pusher.image(f"{secret}/app", "v1", seed="confidential")
    layer = json.loads(pushed.manifest)["layers"][0]["digest"]
    assert (
        server.api("DELETE", f"/projects/{secret}/repositories/app", auth=admin).status_code == 200
    )
    assert server.api("DELETE", f"/projects/{secret}", auth=admin).status_code == 200

    squatter = server.unique("squatter")
    server.create_user(squatter, PASSWORD)
    created = server.api(
        "POST",
        "/projects",
        auth=(squatter, PASSWORD),
        json={"project_name": secret, "metadata": {"public": "false"}},
    )
    assert created.status_code == 201, created.text
    token = server.token(f"repository:{secret}/app:pull", (squatter, PASSWORD))
    with server.client() as client:
        answer = client.get(
            f"/v2/{secret}/app/blobs/{layer}", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 404, (
        f"{answer.status_code}: the deleted project's layer is still served "
        f"({len(answer.content)} bytes)"
    )
