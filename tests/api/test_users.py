"""``/users`` through accounts.operations: concurrent creates, the name rule, one's own account."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"
CALLERS = 16


async def _create_at_once(harborlite: Harborlite, name: str) -> list[httpx.Response]:
    body = {"username": name, "password": PASSWORD, "email": "", "realname": name}
    async with httpx.AsyncClient(
        base_url=harborlite.url,
        auth=harborlite.admin,
        timeout=60,
        limits=httpx.Limits(max_connections=CALLERS),
    ) as client:
        await client.get("/api/v2.0/users/current")  # the admin's credential is cached first
        return list(
            await asyncio.gather(
                *(client.post("/api/v2.0/users", json=body) for _ in range(CALLERS))
            )
        )


@pytest.mark.both_databases  # the unique key decides: SQLite's lock and PostgreSQL's index
async def test_concurrent_creates_of_one_name_give_one_201_and_409s(
    harborlite: Harborlite,
) -> None:
    """Every loser of the race is told the name is taken, as a later caller would be."""
    for _ in range(3):
        name = harborlite.unique("racer")
        answers = await _create_at_once(harborlite, name)
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] + [409] * (CALLERS - 1), [a.text for a in answers]
        for answer in answers:
            if answer.status_code == 409:
                [error] = answer.json()["errors"]
                assert error == {"code": "CONFLICT", "message": f"user {name} already exists"}
        listed = harborlite.api(
            "GET", "/users", auth=harborlite.admin, params={"q": f"username={name}"}
        )
        assert listed.headers["X-Total-Count"] == "1"
        logs = harborlite.api(
            "GET",
            "/audit-logs",
            auth=harborlite.admin,
            params={"q": f"resource={name},operation=create"},
        )
        assert logs.headers["X-Total-Count"] == "1"


def test_create_refuses_a_bad_name_and_a_taken_one(harborlite: Harborlite) -> None:
    bad = harborlite.api(
        "POST",
        "/users",
        auth=harborlite.admin,
        json={"username": "bad name!", "password": PASSWORD},
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["message"].startswith("username must be 1 to 255 letters")
    name = harborlite.unique("taken")
    harborlite.create_user(name, PASSWORD)
    again = harborlite.api(
        "POST", "/users", auth=harborlite.admin, json={"username": name, "password": PASSWORD}
    )
    assert again.status_code == 409
    assert again.json()["errors"][0] == {
        "code": "CONFLICT",
        "message": f"user {name} already exists",
    }
    by_user = harborlite.api(
        "POST",
        "/users",
        auth=(name, PASSWORD),
        json={"username": harborlite.unique("nope"), "password": PASSWORD},
    )
    assert by_user.status_code == 403


def test_own_account_rules(harborlite: Harborlite) -> None:
    name = harborlite.unique("selfadmin")
    user_id = harborlite.create_user(name, PASSWORD, admin=True)
    me = (name, PASSWORD)
    assert harborlite.api("DELETE", f"/users/{user_id}", auth=me).status_code == 403
    dropped = harborlite.api(
        "PUT", f"/users/{user_id}/sysadmin", auth=me, json={"sysadmin_flag": False}
    )
    assert dropped.status_code == 403
    assert "your own administrator rights" in dropped.json()["errors"][0]["message"]
    no_old = harborlite.api(
        "PUT", f"/users/{user_id}/password", auth=me, json={"new_password": "N3wPassword"}
    )
    assert no_old.status_code == 400
    system = harborlite.api("GET", "/users/current/permissions", auth=me).json()
    assert {"resource": "/system/user", "action": "delete"} in system
    assert harborlite.api("DELETE", f"/users/{user_id}", auth=harborlite.admin).status_code == 200
    assert harborlite.api("GET", "/users/current", auth=me).status_code == 401


def test_system_permissions_of_a_plain_user(harborlite: Harborlite) -> None:
    name = harborlite.unique("plain")
    harborlite.create_user(name, PASSWORD)
    relative = harborlite.api(
        "GET", "/users/current/permissions", auth=(name, PASSWORD), params={"relative": "true"}
    ).json()
    assert sorted((p["resource"], p["action"]) for p in relative) == [
        ("label", "list"),
        ("label", "read"),
        ("project", "create"),
        ("project", "list"),
    ]
