"""Nothing a request needs lives in one replica only: what one of two replicas (one database,
one registry, one Redis) opened, counted, changed or revoked holds on the other."""

from __future__ import annotations

import re

import httpx

from tests.harness import Harborlite
from tests.replicas.conftest import MAX_FAILURES, PASSWORD, Cluster, token_status, until

_CSRF = re.compile(r'name="csrf-token" content="([^"]*)"')


def _portal_login(server: Harborlite, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    page = client.get("/login")
    found = _CSRF.search(page.text)
    assert found, page.text
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": found[1]}
    )
    assert answer.status_code == 303, answer.text
    return client


def test_a_portal_session_opened_on_one_replica_works_on_the_other(cluster: Cluster) -> None:
    first, second = cluster.both
    name = first.unique("portal")
    first.create_user(name, PASSWORD)
    on_first = _portal_login(first, name, PASSWORD)
    cookies = dict(on_first.cookies)
    on_first.close()
    with httpx.Client(base_url=second.url, cookies=cookies, timeout=30) as on_second:
        current = on_second.get("/api/v2.0/users/current")
        assert current.status_code == 200, current.text
        assert current.json()["username"] == name
        page = on_second.get("/", follow_redirects=False)
        assert page.status_code == 200 and name in page.text
        # logged out on the second replica: the cookie is dead on the first too
        csrf = _CSRF.search(page.text)
        assert csrf
        out = on_second.post("/logout", data={"csrf_token": csrf[1]})
        assert out.status_code in (302, 303), out.text
    with httpx.Client(base_url=first.url, cookies=cookies, timeout=30) as again:
        assert again.get("/api/v2.0/users/current").status_code == 401


def test_a_lockout_on_one_replica_holds_on_the_other(cluster: Cluster) -> None:
    first, second = cluster.both
    name = first.unique("locked")
    first.create_user(name, PASSWORD)
    for _ in range(MAX_FAILURES):
        assert token_status(first, (name, "Wrong-pass1")) == 401
    assert token_status(second, (name, PASSWORD)) == 429  # the right password too
    assert token_status(first, (name, PASSWORD)) == 429
    api = second.api("GET", "/users/current", auth=(name, PASSWORD))
    assert api.status_code == 429, api.text
    assert "errors" in api.json()


def test_a_password_change_on_one_replica_is_enforced_on_the_other(cluster: Cluster) -> None:
    """The second replica verified (and cached) the old password; the first changes it: the
    second refuses the old one within a second and takes the new one."""
    first, second = cluster.both
    name = first.unique("changed")
    user_id = first.create_user(name, PASSWORD)
    for _ in range(3):  # verified and cached on the second: token service and API
        assert token_status(second, (name, PASSWORD)) == 200
        assert second.api("GET", "/users/current", auth=(name, PASSWORD)).status_code == 200
    changed = first.api(
        "PUT",
        f"/users/{user_id}/password",
        auth=first.admin,
        json={"new_password": "Changed123x"},
    )
    assert changed.status_code == 200, changed.text
    until(lambda: token_status(second, (name, PASSWORD)) == 401)
    assert second.api("GET", "/users/current", auth=(name, PASSWORD)).status_code == 401
    assert token_status(second, (name, "Changed123x")) == 200


def test_a_disabled_user_is_refused_on_the_other_replica(cluster: Cluster) -> None:
    first, second = cluster.both
    name = first.unique("disabled")
    user_id = first.create_user(name, PASSWORD)
    assert token_status(second, (name, PASSWORD)) == 200
    scope = "repository:library/app:pull"
    token = httpx.get(
        f"{second.url}/service/token",
        params={"service": "harbor-registry", "scope": scope},
        auth=(name, PASSWORD),
    ).json()["token"]
    answer = first.api("PUT", f"/users/{user_id}", auth=first.admin, json={"disabled": True})
    assert answer.status_code == 200, answer.text
    until(lambda: token_status(second, (name, PASSWORD)) == 401)

    def refused_at_v2(server: Harborlite) -> bool:
        tags = httpx.get(
            f"{server.url}/v2/library/app/tags/list",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        return tags.status_code == 401

    until(lambda: refused_at_v2(second))
    assert refused_at_v2(first)


def test_a_robot_revoked_on_one_replica_is_refused_on_both(cluster: Cluster) -> None:
    first, second = cluster.both
    project = first.unique("robots")
    first.create_project(project)
    created = second.api(
        "POST",
        "/robots",
        auth=second.admin,
        json={
            "name": first.unique("ci"),
            "level": "project",
            "duration": -1,
            "permissions": [
                {
                    "kind": "project",
                    "namespace": project,
                    "access": [{"resource": "repository", "action": "pull"}],
                }
            ],
        },
    )
    assert created.status_code == 201, created.text
    robot = created.json()
    creds = (robot["name"], robot["secret"])
    scope = f"repository:{project}/app:pull"
    tokens = [
        httpx.get(
            f"{server.url}/service/token",
            params={"service": "harbor-registry", "scope": scope},
            auth=creds,
        ).json()["token"]
        for server in cluster.both
    ]

    def status(server: Harborlite, token: str) -> int:
        return httpx.get(
            f"{server.url}/v2/{project}/app/tags/list",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).status_code

    for server in cluster.both:
        for token in tokens:
            assert status(server, token) == 404  # allowed: the repository is just empty
    assert first.api("DELETE", f"/robots/{robot['id']}", auth=first.admin).status_code == 200
    for server in cluster.both:
        for token in tokens:
            until(lambda s=server, t=token: status(s, t) == 401)
        assert token_status(server, creds, scope) == 401


def test_a_job_asked_of_both_replicas_runs_once(cluster: Cluster) -> None:
    """A manual collection asked of one replica is run by exactly one (the claim is a
    compare-and-set in the database); both show the same execution. (The deeper proof, with
    garbage and parallel asks, is tests/e2e/test_jobs.py.)"""
    first, second = cluster.both
    asked = first.api(
        "POST",
        "/system/gc/schedule",
        auth=first.admin,
        json={"schedule": {"type": "Manual"}, "parameters": {"delete_untagged": False}},
    )
    assert asked.status_code == 201, asked.text
    execution = asked.headers["Location"].rsplit("/", 1)[1]

    def done() -> bool:
        shown = second.api("GET", f"/system/gc/{execution}", auth=second.admin).json()
        return bool(shown["job_status"] in ("Success", "Error", "Stopped"))

    until(done, 60)
    shown = first.api("GET", f"/system/gc/{execution}", auth=first.admin).json()
    assert shown["job_status"] == "Success", shown
    logged = second.api("GET", f"/system/gc/{execution}/log", auth=second.admin).text
    assert len(re.findall(r"started on replica [0-9a-f]+", logged)) == 1, logged
