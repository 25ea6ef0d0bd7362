"""Races on one name and on a project's last ProjectAdmin, against the running harborlite on
SQLite and PostgreSQL: the database decides, and every loser is told so in the envelope."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.harness import Harborlite

pytestmark = pytest.mark.both_databases  # each database decides a race its own way

PASSWORD = "Passw0rd!x"
CALLERS = 16

Request = tuple[str, str, tuple[str, str], dict[str, Any] | None]
"""method, API path, credentials, JSON body"""


def _together(server: Harborlite, requests: list[Request]) -> list[httpx.Response]:
    """Send the requests from threads, each on an open connection, released at one moment."""
    start = threading.Barrier(len(requests))

    def send(request: Request) -> httpx.Response:
        method, path, auth, body = request
        with httpx.Client(base_url=server.url + "/api/v2.0", timeout=60) as client:
            client.get("/health")  # connect before the race
            start.wait()
            return client.request(method, path, json=body, auth=auth)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def _one_winner(server: Harborlite, responses: list[httpx.Response], won: int) -> None:
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [won] + [409] * (len(responses) - 1), (statuses, server.log())
    for response in responses:
        if response.status_code == 409:
            assert response.json()["errors"][0]["code"] == "CONFLICT", response.text


def test_concurrent_creates_of_one_project_name_give_one_201_and_409s(
    harborlite: Harborlite,
) -> None:
    for _ in range(3):
        name = harborlite.unique("race")
        body = {"project_name": name, "metadata": {"public": "false"}}
        request: Request = ("POST", "/projects", harborlite.admin, body)
        _one_winner(harborlite, _together(harborlite, [request] * CALLERS), 201)
        found = harborlite.api("GET", "/projects", auth=harborlite.admin, params={"name": name})
        assert [p["name"] for p in found.json()] == [name]


def test_concurrent_creates_of_one_label_name_give_one_201_and_409s(
    harborlite: Harborlite,
) -> None:
    project_id = harborlite.create_project(harborlite.unique("racel"))
    for scope in ("g", "p", "g"):
        name = harborlite.unique("racing")
        body: dict[str, Any] = {"name": name, "scope": scope}
        params: dict[str, Any] = {"scope": scope, "name": name}
        if scope == "p":
            body["project_id"] = params["project_id"] = project_id
        request: Request = ("POST", "/labels", harborlite.admin, body)
        _one_winner(harborlite, _together(harborlite, [request] * CALLERS), 201)
        listed = harborlite.api("GET", "/labels", auth=harborlite.admin, params=params).json()
        assert [label["name"] for label in listed] == [name]


def test_concurrent_renames_to_one_label_name_leave_one(harborlite: Harborlite) -> None:
    name = harborlite.unique("target")
    paths = []
    for _ in range(6):
        made = harborlite.api(
            "POST", "/labels", auth=harborlite.admin, json={"name": harborlite.unique("src")}
        )
        assert made.status_code == 201, made.text
        paths.append(made.headers["Location"].removeprefix("/api/v2.0"))
    renames: list[Request] = [("PUT", path, harborlite.admin, {"name": name}) for path in paths]
    _one_winner(harborlite, _together(harborlite, renames), 200)
    listed = harborlite.api(
        "GET", "/labels", auth=harborlite.admin, params={"scope": "g", "name": name}
    ).json()
    assert [label["name"] for label in listed] == [name]
    for path in paths:
        assert harborlite.api("DELETE", path, auth=harborlite.admin).status_code == 200


def _admins(server: Harborlite, project: str) -> list[str]:
    members = server.api("GET", f"/projects/{project}/members", auth=server.admin).json()
    return sorted(m["entity_name"] for m in members if m["role_id"] == 1)


def _two_admins(server: Harborlite) -> tuple[str, str, str, dict[str, int]]:
    """A project whose only ProjectAdmins are two new users (no system administrators)."""
    a, b = server.unique("pa"), server.unique("pb")
    for user in (a, b):
        server.create_user(user, PASSWORD)
    project = server.unique("duo")
    made = server.api("POST", "/projects", auth=(a, PASSWORD), json={"project_name": project})
    assert made.status_code == 201, made.text  # its creator is its first ProjectAdmin
    added = server.api(
        "POST",
        f"/projects/{project}/members",
        auth=(a, PASSWORD),
        json={"role_id": 1, "member_user": {"username": b}},
    )
    assert added.status_code == 201, added.text
    assert _admins(server, project) == sorted([a, b])
    for user in (a, b):  # a first login checks the password slowly: not during the race
        assert server.api("GET", f"/projects/{project}", auth=(user, PASSWORD)).status_code == 200
    members = server.api("GET", f"/projects/{project}/members", auth=server.admin).json()
    return project, a, b, {m["entity_name"]: m["id"] for m in members}


def _drop(project: str, ids: dict[str, int], caller: str, target: str, how: str) -> Request:
    path = f"/projects/{project}/members/{ids[target]}"
    if how == "demote":
        return ("PUT", path, (caller, PASSWORD), {"role_id": 2})
    return ("DELETE", path, (caller, PASSWORD), None)


def test_two_project_admins_dropping_each_other_leave_one(harborlite: Harborlite) -> None:
    """a and b, the only ProjectAdmins, remove or demote each other at the same moment: one
    change goes through, the other is refused (403, as for the last admin alone)."""
    rounds = [("remove", "remove")] * 3 + [("demote", "demote")] * 2 + [("remove", "demote")]
    for how_a, how_b in rounds:
        project, a, b, ids = _two_admins(harborlite)
        responses = _together(
            harborlite,
            [_drop(project, ids, a, b, how_a), _drop(project, ids, b, a, how_b)],
        )
        statuses = sorted(response.status_code for response in responses)
        left = _admins(harborlite, project)
        assert len(left) == 1, (how_a, how_b, statuses, left)
        assert statuses == [200, 403], (how_a, how_b, [r.text for r in responses])
