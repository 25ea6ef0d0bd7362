"""``/robots``: Harbor's robot accounts v2, their shapes, their rules and every refusal."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"
PULL = [{"resource": "repository", "action": "pull"}]
PUSH_PULL = [*PULL, {"resource": "repository", "action": "push"}]
RULE = (
    "the secret must be 8-128, inclusively, characters long with at least 1 uppercase letter, "
    "1 lowercase letter and 1 number"
)


def body(
    name: str, namespace: str = "", access: Any = None, *, level: str = "project", **extra: Any
) -> dict[str, Any]:
    permissions = [{"kind": "project", "namespace": namespace, "access": access or PULL}]
    return {
        "name": name,
        "description": "",
        "level": level,
        "duration": -1,
        "permissions": permissions,
        **extra,
    }


def create(server: Harborlite, payload: dict[str, Any], auth: Any = None) -> httpx.Response:
    return server.api("POST", "/robots", auth=auth or server.admin, json=payload)


def error(response: httpx.Response) -> str:
    message: str = response.json()["errors"][0]["message"]
    return message


def test_a_project_robot_is_created_read_listed_updated_refreshed_and_deleted(
    harborlite: Harborlite,
) -> None:
    admin = harborlite.admin
    project = harborlite.unique("rob")
    project_id = harborlite.create_project(project)
    before = int(time.time())
    created = create(
        harborlite,
        body("ci", project, PUSH_PULL, duration=30, description="CI pusher", secret="Ign0redXx"),
    )
    assert created.status_code == 201, created.text
    robot = created.json()
    assert set(robot) == {"id", "name", "secret", "creation_time", "expires_at"}
    assert created.headers["Location"] == f"/api/v2.0/robots/{robot['id']}"
    assert robot["name"] == f"robot${project}+ci"
    assert len(robot["secret"]) == 32 and robot["secret"] != "Ign0redXx"
    assert before + 30 * 86400 <= robot["expires_at"] <= int(time.time()) + 30 * 86400

    path = f"/robots/{robot['id']}"
    shown = harborlite.api("GET", path, auth=admin).json()
    assert shown == {
        "id": robot["id"],
        "name": f"robot${project}+ci",
        "description": "CI pusher",
        "secret": "",
        "level": "project",
        "duration": 30,
        "editable": True,
        "disable": False,
        "expires_at": robot["expires_at"],
        "permissions": [
            {
                "kind": "project",
                "namespace": project,
                "access": [{**a, "effect": "allow"} for a in PUSH_PULL],
            }
        ],
        "creator_type": "local",
        "creator_ref": 1,
        "creation_time": shown["creation_time"],
        "update_time": shown["update_time"],
        "last_used": None,
    }

    listed = harborlite.api(
        "GET", "/robots", auth=admin, params={"q": f"Level=project,ProjectID={project_id}"}
    )
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "1"
    assert [r["id"] for r in listed.json()] == [robot["id"]]
    for name in ("ci", f"{project}+ci", f"robot${project}+ci"):
        found = harborlite.api(
            "GET",
            "/robots",
            auth=admin,
            params={"q": f"Level=project,ProjectID={project_id},name={name}"},
        )
        assert [r["id"] for r in found.json()] == [robot["id"]], name
    fuzzy = harborlite.api(
        "GET", "/robots", auth=admin, params={"q": f"ProjectID={project_id},name=~c"}
    )
    assert fuzzy.headers["X-Total-Count"] == "1"
    system = harborlite.api("GET", "/robots", auth=admin, params={"q": "name=~" + project})
    assert system.json() == []  # the default is the system level

    # PUT takes Harbor's Robot back, changed
    changed = {**shown, "description": "changed", "duration": 60, "disable": True}
    assert harborlite.api("PUT", path, auth=admin, json=changed).status_code == 200
    after = harborlite.api("GET", path, auth=admin).json()
    assert after["description"] == "changed" and after["disable"] is True
    assert after["duration"] == 60 and after["expires_at"] == robot["expires_at"] + 30 * 86400
    assert after["update_time"] >= shown["update_time"]
    never = harborlite.api("PUT", path, auth=admin, json={"duration": -1, "disable": False})
    assert never.status_code == 200
    assert harborlite.api("GET", path, auth=admin).json()["expires_at"] == -1

    generated = harborlite.api("PATCH", path, auth=admin, json={"secret": ""})
    assert generated.status_code == 200 and len(generated.json()["secret"]) == 32
    empty = harborlite.api("PATCH", path, auth=admin)
    assert empty.status_code == 200 and len(empty.json()["secret"]) == 32
    assert empty.json()["secret"] != generated.json()["secret"]
    chosen = harborlite.api("PATCH", path, auth=admin, json={"secret": "MyOwn5ecret"})
    assert chosen.status_code == 200 and chosen.json() == {"secret": ""}

    assert harborlite.api("DELETE", path, auth=admin).status_code == 200
    assert harborlite.api("GET", path, auth=admin).status_code == 404
    assert harborlite.api("DELETE", path, auth=admin).status_code == 404

    logs = harborlite.api(
        "GET",
        "/audit-logs",
        auth=admin,
        params={"q": f"resource_type=robot,resource=robot${project}+ci", "page_size": "50"},
    ).json()
    assert sorted((e["operation"], e["detail"]) for e in logs) == sorted(
        [
            ("create", "level project, 30 days"),
            ("update", "description changed, duration 30 -> 60 days, disabled"),
            ("update", "duration 60 -> -1 days, enabled"),
            ("update", "secret refreshed"),
            ("update", "secret refreshed"),
            ("update", "secret refreshed"),
            ("delete", ""),
        ]
    )


def test_a_system_robot_names_several_projects_or_all_and_expired_ones_are_filtered(
    harborlite: Harborlite,
) -> None:
    admin = harborlite.admin
    first, second = harborlite.unique("rs"), harborlite.unique("rs")
    harborlite.create_project(first)
    harborlite.create_project(second)
    name = harborlite.unique("multi").replace("-", ".")
    payload = body(name, first, level="system")
    payload["permissions"].append({"kind": "project", "namespace": second, "access": PUSH_PULL})
    payload["permissions"].append(
        {
            "kind": "system",
            "namespace": "/",
            "access": [{"resource": "project", "action": "create"}],
        }
    )
    created = create(harborlite, payload)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == f"robot${name}"
    everywhere = create(harborlite, body(name + "all", "*", level="system", duration=1))
    assert everywhere.status_code == 201, everywhere.text

    listed = harborlite.api(
        "GET", "/robots", auth=admin, params={"q": f"name=~{name}", "sort": "name"}
    )
    assert [r["name"] for r in listed.json()] == [f"robot${name}", f"robot${name}all"]
    assert [len(r["permissions"]) for r in listed.json()] == [3, 1]
    assert all(r["level"] == "system" for r in listed.json())
    valid = harborlite.api(
        "GET", "/robots", auth=admin, params={"q": f"name=~{name},expired=false"}
    )
    assert valid.headers["X-Total-Count"] == "2"
    gone = harborlite.api("GET", "/robots", auth=admin, params={"q": f"name=~{name},expired=true"})
    assert gone.json() == []
    paged = harborlite.api(
        "GET", "/robots", auth=admin, params={"q": f"name=~{name}", "page_size": "1"}
    )
    assert len(paged.json()) == 1 and 'rel="next"' in paged.headers["Link"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Bad"}, "robot name is not in lower case or contains illegal characters"),
        ({"name": "a+b"}, "robot name is not in lower case or contains illegal characters"),
        ({"name": None}, "robot name is not in lower case or contains illegal characters"),
        ({"duration": 0}, "duration must be either -1(Never) or a positive integer"),
        ({"duration": -5}, "duration must be either -1(Never) or a positive integer"),
        ({"duration": 2**31}, "duration must be either -1(Never) or a positive integer"),
        ({"duration": None}, "duration must be either -1(Never) or a positive integer"),
        ({"duration": "7"}, "duration must be either -1(Never) or a positive integer"),
        ({"level": "global"}, "bad request level: global; the level is system or project"),
        ({"permissions": []}, "bad request empty permission"),
        ({"permissions": None}, "bad request empty permission"),
        (
            {"permissions": [{"kind": "project", "namespace": "{project}", "access": []}]},
            "bad request empty access",
        ),
        (
            {
                "permissions": [
                    {
                        "kind": "project",
                        "namespace": "{project}",
                        "access": [{"resource": "repository", "action": "fly"}],
                    }
                ]
            },
            "bad request permission: repository:fly",
        ),
        (
            {
                "permissions": [
                    {"kind": "project", "namespace": "{project}", "access": PULL},
                    {"kind": "project", "namespace": "{other}", "access": PULL},
                ]
            },
            "a project robot has exactly one permission",
        ),
        (
            {"permissions": [{"kind": "project", "namespace": "*", "access": PULL}]},
            "a project robot has exactly one permission",
        ),
        (
            {
                "level": "system",
                "permissions": [
                    {
                        "kind": "system",
                        "namespace": "{project}",
                        "access": [{"resource": "project", "action": "create"}],
                    }
                ],
            },
            'the namespace of a system permission must be "/"',
        ),
        (
            {
                "level": "system",
                "permissions": [
                    {
                        "kind": "system",
                        "namespace": "/",
                        "access": [{"resource": "repository", "action": "pull"}],
                    }
                ],
            },
            "bad request permission: repository:pull",
        ),
    ],
)
def test_create_refuses_bad_input_with_400(
    harborlite: Harborlite, change: dict[str, Any], message: str
) -> None:
    project, other = harborlite.unique("rbad"), harborlite.unique("rbad")
    harborlite.create_project(project)
    harborlite.create_project(other)
    payload = {**body("ok", project), **change}
    if isinstance(payload["permissions"], list):
        for entry in payload["permissions"]:
            entry["namespace"] = entry["namespace"].format(project=project, other=other)
    refused = create(harborlite, payload)
    assert refused.status_code == 400, refused.text
    assert error(refused).startswith(message)


def test_create_refuses_a_taken_name_an_unknown_project_and_callers_without_the_right(
    harborlite: Harborlite,
) -> None:
    project = harborlite.unique("rwho")
    harborlite.create_project(project)
    assert create(harborlite, body("dup", project)).status_code == 201
    again = create(harborlite, body("dup", project))
    assert again.status_code == 409
    assert again.json()["errors"][0] == {
        "code": "CONFLICT",
        "message": f"robot robot${project}+dup already exists",
    }
    missing = create(harborlite, body("x", "nosuchproject"))
    assert missing.status_code == 404
    system_missing = create(harborlite, body("x", "nosuchproject", level="system"))
    assert system_missing.status_code == 404

    assert harborlite.api("POST", "/robots", json=body("x", project)).status_code == 401
    roles = {}
    for role_id, role in ((1, "admin"), (2, "dev"), (5, "limited")):
        user = harborlite.unique(f"r{role}")
        harborlite.create_user(user, PASSWORD)
        harborlite.add_member(project, user, role_id)
        roles[role] = (user, PASSWORD)
    outsider = harborlite.unique("rout")
    harborlite.create_user(outsider, PASSWORD)

    made = create(harborlite, body("bypa", project), auth=roles["admin"])
    assert made.status_code == 201, made.text
    assert create(harborlite, body("bydev", project), auth=roles["dev"]).status_code == 403
    assert create(harborlite, body("byout", project), auth=(outsider, PASSWORD)).status_code == 403
    # only system administrators make system robots, or grant every project
    sys_refused = create(harborlite, body("sys", project, level="system"), auth=roles["admin"])
    assert sys_refused.status_code == 403


def test_reads_and_changes_follow_the_project_policy(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    project = harborlite.unique("rpol")
    project_id = harborlite.create_project(project)
    robot = create(harborlite, body("bot", project)).json()
    path = f"/robots/{robot['id']}"
    system = create(harborlite, body(harborlite.unique("sysr"), project, level="system")).json()
    users = {}
    for role_id, role in ((1, "admin"), (3, "guest"), (5, "limited")):
        user = harborlite.unique(f"p{role}")
        harborlite.create_user(user, PASSWORD)
        harborlite.add_member(project, user, role_id)
        users[role] = (user, PASSWORD)
    outsider = harborlite.unique("pout")
    harborlite.create_user(outsider, PASSWORD)
    listing = {"q": f"Level=project,ProjectID={project_id}"}

    def status(method: str, where: str, auth: Any, **kwargs: Any) -> int:
        return harborlite.api(method, where, auth=auth, **kwargs).status_code

    assert status("GET", "/robots", users["guest"], params=listing) == 200
    assert status("GET", path, users["guest"]) == 200
    assert status("GET", "/robots", users["limited"], params=listing) == 403
    assert status("GET", path, users["limited"]) == 403
    assert status("GET", "/robots", (outsider, PASSWORD), params=listing) == 403
    assert status("GET", "/robots", None, params=listing) == 401
    assert status("GET", path, None) == 401
    assert status("GET", "/robots", users["admin"]) == 403  # system robots
    assert status("GET", f"/robots/{system['id']}", users["admin"]) == 403
    assert status("PUT", path, users["guest"], json={"description": "x"}) == 403
    assert status("PATCH", path, users["guest"], json={}) == 403
    assert status("DELETE", path, users["guest"]) == 403
    assert status("PATCH", path, None, json={}) == 401
    assert status("DELETE", f"/robots/{system['id']}", users["admin"]) == 403
    assert status("PUT", path, users["admin"], json={"description": "by pa"}) == 200
    assert status("GET", "/robots/999999", admin) == 404
    assert status("GET", "/robots/abc", admin) == 400
    assert status("PUT", "/robots/999999", admin, json={}) == 404
    assert status("PATCH", "/robots/999999", admin, json={}) == 404

    missing = harborlite.api("GET", "/robots", auth=admin, params={"q": "Level=project"})
    assert missing.status_code == 400
    assert error(missing) == "must with project ID when to query project robots"
    assert status("GET", "/robots", admin, params={"q": "Level=project,ProjectID=999999"}) == 404
    assert status("GET", "/robots", admin, params={"q": "Level=nope"}) == 400
    assert status("GET", "/robots", admin, params={"q": "color=red"}) == 400
    assert status("GET", "/robots", admin, params={"q": "ProjectID=x"}) == 400
    assert status("DELETE", path, users["admin"]) == 200


def test_put_and_patch_refuse_what_cannot_change(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    project, other = harborlite.unique("rput"), harborlite.unique("rput")
    harborlite.create_project(project)
    harborlite.create_project(other)
    robot = create(harborlite, body("fixed", project)).json()
    path = f"/robots/{robot['id']}"
    shown = harborlite.api("GET", path, auth=admin).json()

    def put(**change: Any) -> httpx.Response:
        return harborlite.api("PUT", path, auth=admin, json={**shown, **change})

    assert put().status_code == 200
    for change in ({"name": "renamed"}, {"level": "system"}):
        refused = put(**change)
        assert refused.status_code == 400
        assert error(refused) == "cannot update the level or name of robot"
    moved = put(permissions=[{"kind": "project", "namespace": other, "access": PULL}])
    assert moved.status_code == 400 and error(moved) == "cannot update the project id of robot"
    assert put(duration=0).status_code == 400
    assert put(disable="maybe").status_code == 400
    assert put(permissions=[]).status_code == 400
    unknown = put(permissions=[{"kind": "project", "namespace": project, "access": [{}]}])
    assert unknown.status_code == 400 and error(unknown) == "bad request permission: None:None"
    assert harborlite.api("PUT", path, auth=admin).status_code == 400  # no body

    for secret in ("short1A", "nouppercase1", "NOLOWERCASE1", "NoDigitsHere", "A1" + "b" * 127):
        refused = harborlite.api("PATCH", path, auth=admin, json={"secret": secret})
        assert refused.status_code == 400 and error(refused) == RULE, secret
    assert harborlite.api("PATCH", path, auth=admin, json={"secret": 5}).status_code == 400
    longest = harborlite.api("PATCH", path, auth=admin, json={"secret": "A1" + "b" * 126})
    assert longest.status_code == 200 and longest.json() == {"secret": ""}


def test_a_robot_creates_robots_within_its_own_permissions_only(harborlite: Harborlite) -> None:
    project = harborlite.unique("rmaker")
    harborlite.create_project(project)
    access = [*PUSH_PULL, {"resource": "robot", "action": "create"}]
    maker = create(harborlite, body("maker", project, access)).json()
    maker_auth = (maker["name"], maker["secret"])

    child = create(harborlite, body("child", project, PULL), auth=maker_auth)
    assert child.status_code == 201, child.text
    shown = harborlite.api("GET", f"/robots/{child.json()['id']}", auth=harborlite.admin).json()
    assert shown["creator_type"] == "robot" and shown["creator_ref"] == maker["id"]
    wider = [*PULL, {"resource": "repository", "action": "delete"}]
    refused = create(harborlite, body("wider", project, wider), auth=maker_auth)
    assert refused.status_code == 403
    assert error(refused) == (
        "permission scope is invalid. It must be equal to or more restrictive than the creator "
        f"robot's permissions: {maker['name']}"
    )
    system = create(harborlite, body("sys", project, PULL, level="system"), auth=maker_auth)
    assert system.status_code == 403
    # it has no robot:read, so it does not see the robots, not even its child
    assert harborlite.api("GET", f"/robots/{maker['id']}", auth=maker_auth).status_code == 403


@pytest.mark.both_databases  # the unique key decides: SQLite's lock and PostgreSQL's index
async def test_concurrent_creates_of_one_name_give_one_201_and_409s(
    harborlite: Harborlite,
) -> None:
    project = harborlite.unique("rrace")
    project_id = harborlite.create_project(project)
    async with httpx.AsyncClient(
        base_url=harborlite.url + "/api/v2.0", auth=harborlite.admin, timeout=60
    ) as client:
        await client.get("/users/current")  # the admin's credential is cached first
        answers = await asyncio.gather(
            *(client.post("/robots", json=body("racer", project)) for _ in range(8))
        )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * 7, [a.text for a in answers]
    listed = harborlite.api(
        "GET",
        "/robots",
        auth=harborlite.admin,
        params={"q": f"ProjectID={project_id}"},
    )
    assert listed.headers["X-Total-Count"] == "1"
