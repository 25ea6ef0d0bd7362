"""harborlite's answers against the schemas of Harbor's swagger, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.pushing import Pusher
from tests.api.swagger import response_headers, response_schema, validate
from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"


@dataclass
class Setting:
    server: Harborlite
    project: str
    project_id: int
    user_id: int
    username: str
    member_id: int
    index_digest: str
    label_id: int
    robot_id: int


@pytest.fixture(scope="module")
def setting(harborlite: Harborlite) -> Iterator[Setting]:
    project = harborlite.unique("contract")
    project_id = harborlite.create_project(project)
    username = harborlite.unique("cuser")
    user_id = harborlite.create_user(username, PASSWORD)
    harborlite.add_member(project, username, 2)
    members = harborlite.api("GET", f"/projects/{project}/members", auth=harborlite.admin).json()
    member_id = next(m["id"] for m in members if m["entity_name"] == username)
    with Pusher(harborlite) as pusher:
        pusher.image(f"{project}/app", "v1")
        index = pusher.index(f"{project}/multi/arch", "v1")
        pusher.chart(f"{project}/chart", "chart", "1.0.0")
    harborlite.api(
        "PUT",
        f"/projects/{project}/repositories/app",
        auth=harborlite.admin,
        json={"description": "d"},
    )
    label = harborlite.api(
        "POST",
        "/labels",
        auth=harborlite.admin,
        json={"name": "contract", "scope": "p", "project_id": project_id, "color": "#112233"},
    )
    assert label.status_code == 201, label.text
    label_id = int(label.headers["Location"].rsplit("/", 1)[1])
    for level in ("project", "system"):
        robot = harborlite.api(
            "POST",
            "/robots",
            auth=harborlite.admin,
            json={
                "name": harborlite.unique("contract").replace("-", "."),
                "level": level,
                "duration": 30,
                "permissions": [
                    {
                        "kind": "project",
                        "namespace": project,
                        "access": [{"resource": "repository", "action": "pull"}],
                    }
                ],
            },
        )
        assert robot.status_code == 201, robot.text
    robot_id = int(robot.json()["id"])
    immutable = harborlite.api(
        "POST",
        f"/projects/{project}/immutabletagrules",
        auth=harborlite.admin,
        json=IMMUTABLE_RULE,  # selects no tag the other cases use
    )
    assert immutable.status_code == 201, immutable.text
    attached = harborlite.api(
        "POST",
        f"/projects/{project}/repositories/app/artifacts/v1/labels",
        auth=harborlite.admin,
        json={"id": label_id},
    )
    assert attached.status_code == 200, attached.text
    yield Setting(
        harborlite,
        project,
        project_id,
        user_id,
        username,
        member_id,
        index.digest,
        label_id,
        robot_id,
    )


IMMUTABLE_RULE: dict[str, Any] = {
    "action": "immutable",
    "template": "immutable_template",
    "disabled": False,
    "priority": 0,
    "params": {},
    "scope_selectors": {
        "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
    },
    "tag_selectors": [
        {"kind": "doublestar", "decoration": "matches", "pattern": "contract-frozen-*"}
    ],
}
IMMUTABLE = "/projects/{project_name_or_id}/immutabletagrules"


# (swagger path, concrete path with {placeholders}, query, caller, expected status)
ADMIN, USER, ANON = "admin", "user", "anon"
GETS: list[tuple[str, str, dict[str, str], str, int]] = [
    ("/health", "/health", {}, ANON, 200),
    ("/systeminfo", "/systeminfo", {}, ANON, 200),
    ("/search", "/search", {"q": "{project}"}, ADMIN, 200),
    ("/statistics", "/statistics", {}, ADMIN, 200),
    ("/statistics", "/statistics", {}, USER, 200),
    ("/projects", "/projects", {"name": "{project}"}, ADMIN, 200),
    ("/projects", "/projects", {"name": "{project}"}, USER, 200),
    ("/projects/{project_name_or_id}", "/projects/{project_id}", {}, ADMIN, 200),
    ("/projects/{project_name_or_id}", "/projects/nosuchproject", {}, ADMIN, 404),
    ("/projects/{project_name_or_id}/summary", "/projects/{project}/summary", {}, ADMIN, 200),
    ("/projects/{project_name_or_id}/_deletable", "/projects/{project}/_deletable", {}, ADMIN, 200),
    ("/projects/{project_name_or_id}/members", "/projects/{project}/members", {}, ADMIN, 200),
    (
        "/projects/{project_name_or_id}/metadatas/",
        "/projects/{project}/metadatas/",
        {},
        USER,
        200,
    ),
    (
        "/projects/{project_name_or_id}/metadatas/{meta_name}",
        "/projects/{project_id}/metadatas/public",
        {},
        USER,
        200,
    ),
    (
        "/projects/{project_name_or_id}/metadatas/{meta_name}",
        "/projects/{project}/metadatas/severity",
        {},
        USER,
        404,
    ),
    (
        "/projects/{project_name_or_id}/members/{mid}",
        "/projects/{project}/members/{member_id}",
        {},
        ADMIN,
        200,
    ),
    ("/projects/{project_name}/logs", "/projects/{project}/logs", {}, ADMIN, 200),
    ("/audit-logs", "/audit-logs", {"page_size": "100"}, ADMIN, 200),
    ("/repositories", "/repositories", {"page_size": "100"}, ADMIN, 200),
    ("/projects/{project_name}/repositories", "/projects/{project}/repositories", {}, ADMIN, 200),
    (
        "/projects/{project_name}/repositories/{repository_name}",
        "/projects/{project}/repositories/app",
        {},
        ADMIN,
        200,
    ),
    (
        "/projects/{project_name}/repositories/{repository_name}",
        "/projects/{project}/repositories/nothere",
        {},
        ADMIN,
        404,
    ),
    (
        "/projects/{project_name}/repositories/{repository_name}/artifacts",
        "/projects/{project}/repositories/app/artifacts",
        {"with_label": "true"},
        ADMIN,
        200,
    ),
    (
        "/projects/{project_name}/repositories/{repository_name}/artifacts",
        "/projects/{project}/repositories/multi%252Farch/artifacts",
        {},
        ADMIN,
        200,
    ),
    (
        "/projects/{project_name}/repositories/{repository_name}/artifacts",
        "/projects/{project}/repositories/multi%252Farch/artifacts",
        {"q": "base=*"},
        ADMIN,
        200,
    ),
    (
        "/projects/{project_name}/repositories/{repository_name}/artifacts",
        "/projects/{project}/repositories/chart/artifacts",
        {},
        USER,
        200,
    ),
    (
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
        "/projects/{project}/repositories/multi%252Farch/artifacts/{index_digest}",
        {},
        ADMIN,
        200,
    ),
    (
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
        "/projects/{project}/repositories/app/artifacts/nosuchtag",
        {},
        ADMIN,
        404,
    ),
    (
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
        "/projects/{project}/repositories/app/artifacts/v1",
        {},
        ANON,
        401,
    ),
    (
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags",
        "/projects/{project}/repositories/app/artifacts/v1/tags",
        {},
        ADMIN,
        200,
    ),
    (
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
        "/projects/{project}/repositories/app/artifacts/v1",
        {"with_label": "true"},
        USER,
        200,
    ),
    ("/labels", "/labels", {"scope": "p", "project_id": "{project_id}"}, USER, 200),
    ("/labels", "/labels", {"scope": "p", "project_id": "{project_id}"}, ANON, 401),
    ("/labels", "/labels", {"scope": "p"}, ADMIN, 400),
    ("/labels/{label_id}", "/labels/{label_id}", {}, USER, 200),
    ("/labels/{label_id}", "/labels/999999", {}, ADMIN, 404),
    ("/robots", "/robots", {}, ADMIN, 200),
    ("/robots", "/robots", {"q": "Level=project,ProjectID={project_id}"}, USER, 200),
    ("/robots", "/robots", {"q": "Level=project"}, ADMIN, 400),
    ("/robots", "/robots", {"q": "Level=project,ProjectID=999999"}, ADMIN, 404),
    ("/robots/{robot_id}", "/robots/{robot_id}", {}, USER, 403),
    ("/robots/{robot_id}", "/robots/{robot_id}", {}, ANON, 401),
    ("/robots/{robot_id}", "/robots/999999", {}, ADMIN, 404),
    (IMMUTABLE, "/projects/{project}/immutabletagrules", {}, ADMIN, 200),
    (IMMUTABLE, "/projects/{project_id}/immutabletagrules", {"page_size": "1"}, ADMIN, 200),
    (IMMUTABLE, "/projects/{project}/immutabletagrules", {}, USER, 403),
    (IMMUTABLE, "/projects/{project}/immutabletagrules", {}, ANON, 401),
    (IMMUTABLE, "/projects/{project}/immutabletagrules", {"q": "nope=1"}, ADMIN, 400),
    ("/users", "/users", {}, ADMIN, 200),
    ("/users", "/users", {}, USER, 403),
    ("/users/current", "/users/current", {}, USER, 200),
    ("/users/current", "/users/current", {}, ANON, 401),
    ("/users/search", "/users/search", {"username": "{username}"}, USER, 200),
    ("/users/{user_id}", "/users/{user_id}", {}, ADMIN, 200),
    ("/users/current/permissions", "/users/current/permissions", {}, USER, 200),
    (
        "/users/current/permissions",
        "/users/current/permissions",
        {"scope": "/project/{project_id}", "relative": "true"},
        USER,
        200,
    ),
]


def _auth(setting: Setting, caller: str) -> tuple[str, str] | None:
    return {ADMIN: setting.server.admin, USER: (setting.username, PASSWORD), ANON: None}[caller]


@pytest.mark.parametrize(
    ("template", "path", "query", "caller", "status"),
    GETS,
    ids=[f"{c}-{p}-{s}-{i}" for i, (_, p, _q, c, s) in enumerate(GETS)],
)
def test_get_answers_match_the_swagger(
    setting: Setting,
    template: str,
    path: str,
    query: dict[str, str],
    caller: str,
    status: int,
) -> None:
    names = vars(setting)
    params = {k: v.format(**names) for k, v in query.items()}
    response = setting.server.api(
        "GET", path.format(**names), params=params, auth=_auth(setting, caller)
    )
    assert response.status_code == status, response.text
    schema = response_schema("GET", template, status)
    assert schema is not None
    body = response.json()
    assert validate(body, schema) == []
    if status == 200 and schema.get("type") == "array":
        assert body, f"{path} answered an empty list: nothing was checked"
        if "X-Total-Count" in response_headers("GET", template, status):
            assert int(response.headers["X-Total-Count"]) >= len(body)
    assert response.headers["X-Request-Id"]


def test_a_robot_matches_the_swagger_with_harborlites_last_used(setting: Setting) -> None:
    """Validated against its ``$ref``, which names the definition harborlite extends."""
    response = setting.server.api("GET", f"/robots/{setting.robot_id}", auth=setting.server.admin)
    assert response.status_code == 200, response.text
    assert response_schema("GET", "/robots/{robot_id}", 200) is not None
    robot = response.json()
    assert validate(robot, {"$ref": "#/definitions/Robot"}) == []
    assert "last_used" in robot
    assert validate({**robot, "other": 1}, {"$ref": "#/definitions/Robot"}) != []


def test_writes_match_the_swagger(setting: Setting) -> None:
    server = setting.server
    admin = server.admin
    name = server.unique("cw")

    def check(method: str, template: str, response: httpx.Response, status: int) -> None:
        assert response.status_code == status, response.text
        documented = response_schema(method, template, status)
        if documented is not None:
            assert validate(response.json(), documented) == []
        if status == 201:
            assert "Location" in response_headers(method, template, 201)
            assert response.headers["Location"].startswith("/api/v2.0/")

    created = server.api("POST", "/projects", auth=admin, json={"project_name": name})
    check("POST", "/projects", created, 201)
    check(
        "POST",
        "/projects",
        server.api("POST", "/projects", auth=admin, json={"project_name": name}),
        409,
    )
    check(
        "PUT",
        "/projects/{project_name_or_id}",
        server.api("PUT", f"/projects/{name}", auth=admin, json={"metadata": {"public": "true"}}),
        200,
    )
    metadatas = "/projects/{project_name_or_id}/metadatas/"
    added = server.api(
        "POST", f"/projects/{name}/metadatas/", auth=admin, json={"auto_scan": "true"}
    )
    check("POST", metadatas, added, 200)
    check(
        "POST",
        metadatas,
        server.api("POST", f"/projects/{name}/metadatas/", auth=admin, json={"nope": "1"}),
        400,
    )
    check(
        "PUT",
        metadatas + "{meta_name}",
        server.api(
            "PUT", f"/projects/{name}/metadatas/auto_scan", auth=admin, json={"auto_scan": "false"}
        ),
        200,
    )
    check(
        "DELETE",
        metadatas + "{meta_name}",
        server.api("DELETE", f"/projects/{name}/metadatas/auto_scan", auth=admin),
        200,
    )
    member = server.api(
        "POST",
        f"/projects/{name}/members",
        auth=admin,
        json={"role_id": 4, "member_user": {"username": setting.username}},
    )
    check("POST", "/projects/{project_name_or_id}/members", member, 201)
    user = server.api(
        "POST",
        "/users",
        auth=admin,
        json={
            "username": server.unique("cw-u"),
            "password": PASSWORD,
            "email": "",
            "realname": "x",
        },
    )
    check("POST", "/users", user, 201)
    tag = server.api(
        "POST",
        f"/projects/{setting.project}/repositories/app/artifacts/v1/tags",
        auth=admin,
        json={"name": "contract"},
    )
    check(
        "POST",
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags",
        tag,
        201,
    )
    check(
        "DELETE",
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
        server.api(
            "DELETE", f"/projects/{setting.project}/repositories/app/artifacts/nope", auth=admin
        ),
        404,
    )
    label = server.api("POST", "/labels", auth=admin, json={"name": name, "scope": "g"})
    check("POST", "/labels", label, 201)
    check(
        "POST",
        "/labels",
        server.api("POST", "/labels", auth=admin, json={"name": name, "scope": "g"}),
        409,
    )
    label_path = label.headers["Location"].removeprefix("/api/v2.0")
    check(
        "PUT",
        "/labels/{label_id}",
        server.api("PUT", label_path, auth=admin, json={"description": "changed"}),
        200,
    )
    artifact_labels = (
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/labels"
    )
    labels_of_v1 = f"/projects/{setting.project}/repositories/app/artifacts/v1/labels"
    label_id = int(label_path.rsplit("/", 1)[1])
    check(
        "POST",
        artifact_labels,
        server.api("POST", labels_of_v1, auth=admin, json={"id": label_id}),
        200,
    )
    check(
        "POST",
        artifact_labels,
        server.api("POST", labels_of_v1, auth=admin, json={"id": label_id}),
        409,
    )
    check(
        "DELETE",
        artifact_labels + "/{label_id}",
        server.api("DELETE", f"{labels_of_v1}/{label_id}", auth=admin),
        200,
    )
    check(
        "DELETE",
        artifact_labels + "/{label_id}",
        server.api("DELETE", f"{labels_of_v1}/{label_id}", auth=admin),
        404,
    )
    check("DELETE", "/labels/{label_id}", server.api("DELETE", label_path, auth=admin), 200)
    robot_body: dict[str, Any] = {
        "name": "cw",
        "level": "project",
        "duration": -1,
        "permissions": [
            {
                "kind": "project",
                "namespace": name,
                "access": [{"resource": "repository", "action": "push"}],
            }
        ],
    }
    robot = server.api("POST", "/robots", auth=admin, json=robot_body)
    check("POST", "/robots", robot, 201)
    robot_path = robot.headers["Location"].removeprefix("/api/v2.0")
    check(
        "POST",
        "/robots",
        server.api("POST", "/robots", auth=admin, json={**robot_body, "name": "Bad"}),
        400,
    )
    check(
        "POST",
        "/robots",
        server.api(
            "POST",
            "/robots",
            auth=(setting.username, PASSWORD),
            json={**robot_body, "level": "system"},
        ),
        403,
    )
    robot_json = server.api("GET", robot_path, auth=admin).json()
    check(
        "PUT",
        "/robots/{robot_id}",
        server.api("PUT", robot_path, auth=admin, json={**robot_json, "description": "d"}),
        200,
    )
    check(
        "PUT",
        "/robots/{robot_id}",
        server.api("PUT", robot_path, auth=admin, json={**robot_json, "level": "system"}),
        400,
    )
    check(
        "PATCH",
        "/robots/{robot_id}",
        server.api("PATCH", robot_path, auth=admin, json={"secret": ""}),
        200,
    )
    check(
        "PATCH",
        "/robots/{robot_id}",
        server.api("PATCH", robot_path, auth=admin, json={"secret": "weak"}),
        400,
    )
    check("DELETE", "/robots/{robot_id}", server.api("DELETE", robot_path, auth=admin), 200)
    check("DELETE", "/robots/{robot_id}", server.api("DELETE", robot_path, auth=admin), 404)
    artifacts = "/projects/{project_name}/repositories/{repository_name}/artifacts"
    copy_to = f"/projects/{setting.project}/repositories/copied/artifacts"
    copied = server.api("POST", copy_to, params={"from": f"{setting.project}/app:v1"}, auth=admin)
    check("POST", artifacts, copied, 201)
    missing = server.api(
        "POST", copy_to, params={"from": f"{setting.project}/app:nosuch"}, auth=admin
    )
    check("POST", artifacts, missing, 404)
    check("POST", artifacts, server.api("POST", copy_to, params={"from": "x"}, auth=admin), 400)
    check(
        "DELETE",
        "/projects/{project_name_or_id}",
        server.api("DELETE", f"/projects/{name}", auth=admin),
        200,
    )


def test_immutable_rule_writes_match_the_swagger(setting: Setting) -> None:
    server = setting.server
    admin = server.admin
    name = server.unique("cimmu")
    assert (
        server.api("POST", "/projects", auth=admin, json={"project_name": name}).status_code == 201
    )
    path = f"/projects/{name}/immutabletagrules"

    def check(method: str, template: str, response: httpx.Response, status: int) -> None:
        assert response.status_code == status, response.text
        documented = response_schema(method, template, status)
        if documented is not None:
            assert validate(response.json(), documented) == []
        if status == 201:
            assert "Location" in response_headers(method, template, 201)
            assert response.headers["Location"].startswith("/api/v2.0/")

    created = server.api("POST", path, auth=admin, json=IMMUTABLE_RULE)
    check("POST", IMMUTABLE, created, 201)
    one = created.headers["Location"].removeprefix("/api/v2.0")
    bad = {**IMMUTABLE_RULE, "tag_selectors": []}
    check("POST", IMMUTABLE, server.api("POST", path, auth=admin, json=bad), 400)
    check("POST", IMMUTABLE, server.api("POST", path, json=IMMUTABLE_RULE), 401)
    user = (setting.username, PASSWORD)
    check("POST", IMMUTABLE, server.api("POST", path, auth=user, json=IMMUTABLE_RULE), 403)
    missing = "/projects/nosuchproject-c/immutabletagrules"
    check("POST", IMMUTABLE, server.api("POST", missing, auth=admin, json=IMMUTABLE_RULE), 404)
    item = IMMUTABLE + "/{immutable_rule_id}"
    changed = {**IMMUTABLE_RULE, "disabled": True}
    check("PUT", item, server.api("PUT", one, auth=admin, json=changed), 200)
    check("PUT", item, server.api("PUT", one, auth=admin, json=bad), 400)
    check("PUT", item, server.api("PUT", f"{path}/99999999", auth=admin, json=changed), 404)
    listed = server.api("GET", path, auth=admin)
    assert validate(listed.json(), response_schema("GET", IMMUTABLE, 200)) == []
    assert listed.json()[0]["disabled"] is True
    check("DELETE", item, server.api("DELETE", one, auth=admin), 200)
    check("DELETE", item, server.api("DELETE", one, auth=admin), 404)
    server.api("POST", path, auth=admin, json=IMMUTABLE_RULE)  # the project goes with its rule
    check(
        "DELETE",
        "/projects/{project_name_or_id}",
        server.api("DELETE", f"/projects/{name}", auth=admin),
        200,
    )


def test_additions_answer_with_their_content_types(setting: Setting) -> None:
    base = f"/projects/{setting.project}/repositories"
    history = setting.server.api(
        "GET", f"{base}/app/artifacts/v1/additions/build_history", auth=setting.server.admin
    )
    assert history.status_code == 200
    assert history.headers["Content-Type"].startswith("application/json")
    values = setting.server.api(
        "GET", f"{base}/chart/artifacts/1.0.0/additions/values.yaml", auth=setting.server.admin
    )
    assert values.status_code == 200 and values.headers["Content-Type"].startswith("text/plain")
    unknown: Any = setting.server.api(
        "GET", f"{base}/app/artifacts/v1/additions/values.yaml", auth=setting.server.admin
    )
    assert unknown.status_code == 404
    assert (
        validate(
            unknown.json(),
            response_schema(
                "GET",
                "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/additions/{addition}",
                404,
            ),
        )
        == []
    )


# --- tag retention (/retentions) -------------------------------------------------------------

RETENTION_RULE: dict[str, Any] = {
    "disabled": False,
    "action": "retain",
    "template": "latestPushedK",
    "params": {"latestPushedK": 1},
    "tag_selectors": [
        {"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{}"}
    ],
    "scope_selectors": {
        "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "app"}]
    },
}


def test_retention_answers_match_the_swagger(setting: Setting) -> None:
    import time  # this block's own (the file is shared)

    server, admin = setting.server, setting.server.admin
    outsider = server.unique("c-out")
    server.create_user(outsider, PASSWORD)
    stranger = (outsider, PASSWORD)
    name = server.unique("c-ret")
    project_id = server.create_project(name)
    with Pusher(server) as pusher:
        pusher.image(f"{name}/app", "v1", seed="1")
        pusher.image(f"{name}/app", "v2", seed="2")
    body = {
        "algorithm": "or",
        "rules": [RETENTION_RULE],
        "trigger": {"kind": "Schedule", "settings": {"cron": ""}, "references": {}},
        "scope": {"level": "project", "ref": project_id},
    }

    def check(method: str, template: str, response: httpx.Response, status: int) -> None:
        assert response.status_code == status, response.text
        documented = response_schema(method, template, status)
        if documented is not None and response.headers.get("content-type", "").startswith(
            "application/json"
        ):
            assert validate(response.json(), documented) == []
        if status == 201:
            assert "Location" in response_headers(method, template, 201)
            assert response.headers["Location"].startswith("/api/v2.0/")

    check("GET", "/retentions/metadatas", server.api("GET", "/retentions/metadatas"), 401)
    check(
        "GET",
        "/retentions/metadatas",
        server.api("GET", "/retentions/metadatas", auth=stranger),
        200,
    )
    check("POST", "/retentions", server.api("POST", "/retentions", json=body), 401)
    check("POST", "/retentions", server.api("POST", "/retentions", auth=stranger, json=body), 403)
    bad = {**body, "rules": [RETENTION_RULE] * 16}
    check("POST", "/retentions", server.api("POST", "/retentions", auth=admin, json=bad), 400)
    created = server.api("POST", "/retentions", auth=admin, json=body)
    check("POST", "/retentions", created, 201)
    one = created.headers["Location"].removeprefix("/api/v2.0")
    check("POST", "/retentions", server.api("POST", "/retentions", auth=admin, json=body), 400)

    item = "/retentions/{id}"
    check("GET", item, server.api("GET", one, auth=admin), 200)
    check("GET", item, server.api("GET", one), 401)
    check("GET", item, server.api("GET", one, auth=stranger), 403)
    check("PUT", item, server.api("PUT", one, auth=admin, json=body), 200)
    check("PUT", item, server.api("PUT", one, auth=stranger, json=body), 403)

    runs = "/retentions/{id}/executions"
    started = server.api("POST", f"{one}/executions", auth=admin, json={"dry_run": True})
    check("POST", runs, started, 201)
    check("POST", runs, server.api("POST", f"{one}/executions", json={"dry_run": True}), 401)
    execution = started.headers["Location"].removeprefix("/api/v2.0")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = server.api("GET", f"{one}/executions", auth=admin)
        if listed.json()[0]["status"] in ("Success", "Error", "Stopped"):
            break
        time.sleep(0.2)
    check("GET", runs, listed, 200)
    assert listed.json() and int(listed.headers["X-Total-Count"]) == 1
    assert listed.json()[0]["status"] == "Success"
    check("GET", runs, server.api("GET", f"{one}/executions", auth=stranger), 403)
    tasks = server.api("GET", f"{execution}/tasks", auth=admin)
    check("GET", runs + "/{eid}/tasks", tasks, 200)
    assert [t["repository"] for t in tasks.json()] == ["app"]
    assert int(tasks.headers["X-Total-Count"]) == 1
    log = server.api("GET", f"{execution}/tasks/{tasks.json()[0]['id']}", auth=admin)
    check("GET", runs + "/{eid}/tasks/{tid}", log, 200)
    assert log.headers["content-type"].startswith("text/plain") and "DEL" in log.text
    check("GET", runs + "/{eid}/tasks/{tid}", server.api("GET", f"{execution}/tasks/1"), 401)
    stop = server.api("PATCH", execution, auth=stranger, json={"action": "stop"})
    check("PATCH", runs + "/{eid}", stop, 403)
    check("DELETE", item, server.api("DELETE", one, auth=stranger), 403)
    check("DELETE", item, server.api("DELETE", one, auth=admin), 200)


# ---- /system/gc (garbage collection): every route, against Harbor's swagger ----------------
# A dry run only, on the shared server: it deletes nothing. The 412s (stopping a run that
# ended, starting one while one runs) are not in the swagger: tests/api/test_gc_api.py checks
# them against the Errors definition.

GC_DRY_RUN: dict[str, Any] = {"schedule": {"type": "Manual"}, "parameters": {"dry_run": True}}
GC_DONE = ("Success", "Error", "Stopped")


def _gc_wait(server: Harborlite, path: str) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 60
    while True:
        shown: dict[str, Any] = server.api("GET", path, auth=server.admin).json()
        if shown["job_status"] in GC_DONE:
            return shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)


def _gc_idle(server: Harborlite) -> None:
    runs = server.api("GET", "/system/gc", auth=server.admin, params={"page_size": "100"}).json()
    for run in runs:
        if run["job_status"] not in GC_DONE:
            _gc_wait(server, f"/system/gc/{run['id']}")


def test_gc_answers_match_the_swagger(setting: Setting) -> None:
    server = setting.server
    admin, user = server.admin, (setting.username, PASSWORD)

    def check(
        method: str,
        template: str,
        response: httpx.Response,
        status: int,
        *,
        text: bool = False,
    ) -> None:
        assert response.status_code == status, response.text
        documented = response_schema(method, template, status)
        if text:
            assert response.headers["Content-Type"].startswith("text/plain")
            assert documented == {"type": "string"}
        elif documented is not None:
            assert validate(response.json(), documented) == []
        if status == 201:
            assert "Location" in response_headers(method, template, 201)
        assert response.headers["X-Request-Id"]

    history, one, log = "/system/gc", "/system/gc/{gc_id}", "/system/gc/{gc_id}/log"
    schedule = "/system/gc/schedule"
    response_schema("GET", one, 200)  # the swagger read (seconds) before a run starts
    _gc_idle(server)
    started = server.api("POST", schedule, auth=admin, json=GC_DRY_RUN)
    run = started.headers["Location"].removeprefix("/api/v2.0")
    shown = server.api("GET", run, auth=admin)  # pending or running (a run lasts 2.5 s at least)
    check("PUT", one, server.api("PUT", run, auth=admin), 200)  # stopped
    check("POST", schedule, started, 201)
    check("GET", one, shown, 200)
    assert run.startswith("/system/gc/")
    stopped = _gc_wait(server, run)
    assert stopped["job_status"] == "Stopped", server.api("GET", f"{run}/log", auth=admin).text
    finished = server.api("POST", schedule, auth=admin, json=GC_DRY_RUN)
    check("POST", schedule, finished, 201)
    done = finished.headers["Location"].removeprefix("/api/v2.0")
    assert _gc_wait(server, done)["job_status"] == "Success"

    listed = server.api("GET", history, auth=admin)
    check("GET", history, listed, 200)
    assert listed.json() and int(listed.headers["X-Total-Count"]) >= 2
    assert "X-Total-Count" in response_headers("GET", history, 200)
    check("GET", history, server.api("GET", history), 401)
    check("GET", history, server.api("GET", history, auth=user), 403)
    for path, status, caller in (
        (done, 200, admin),
        ("/system/gc/999999", 404, admin),
        (done, 401, None),
        (done, 403, user),
    ):
        check("GET", one, server.api("GET", path, auth=caller), status)
        got = server.api("GET", f"{path}/log", auth=caller)
        check("GET", log, got, status, text=status == 200)
        if status != 200:  # stopping a run that ended is 412, which the swagger omits
            check("PUT", one, server.api("PUT", path, auth=caller), status)
    check("GET", log, server.api("GET", "/system/gc/abc/log", auth=admin), 400)

    daily = {"schedule": {"type": "Daily"}, "parameters": {"delete_untagged": False}}
    try:
        check("PUT", schedule, server.api("PUT", schedule, auth=admin, json=daily), 200)
        shown = server.api("GET", schedule, auth=admin)
        check("GET", schedule, shown, 200)
        assert shown.json()["schedule"]["type"] == "Daily"
        custom = {"schedule": {"type": "Custom", "cron": "0 0 5 * * 1"}}
        check("POST", schedule, server.api("POST", schedule, auth=admin, json=custom), 201)
        bad = {"schedule": {"type": "Custom", "cron": "often"}}
        for method in ("POST", "PUT"):
            check(method, schedule, server.api(method, schedule, auth=admin, json=bad), 400)
            check(method, schedule, server.api(method, schedule, json=daily), 401)
            check(method, schedule, server.api(method, schedule, auth=user, json=daily), 403)
        check("GET", schedule, server.api("GET", schedule), 401)
        check("GET", schedule, server.api("GET", schedule, auth=user), 403)
    finally:
        off = server.api("PUT", schedule, auth=admin, json={"schedule": {"type": "None"}})
        check("PUT", schedule, off, 200)
    check("GET", schedule, server.api("GET", schedule, auth=admin), 200)


# --- quotas (/quotas, /configurations, the summary's quota) ----------------------------------


def test_quota_answers_match_the_swagger(setting: Setting) -> None:
    server = setting.server
    admin, user = server.admin, (setting.username, PASSWORD)

    def check(method: str, template: str, response: httpx.Response, status: int) -> None:
        assert response.status_code == status, response.text
        documented = response_schema(method, template, status)
        if documented is not None:
            assert validate(response.json(), documented) == [], response.text

    listed = server.api(
        "GET", "/quotas", auth=admin, params={"reference": "project", "reference_id": "{}"}
    )
    check("GET", "/quotas", listed, 200)
    everything = server.api("GET", "/quotas", auth=admin, params={"sort": "-used.storage"})
    check("GET", "/quotas", everything, 200)
    assert everything.json() and int(everything.headers["X-Total-Count"]) >= 1
    mine = server.api(
        "GET", "/quotas", auth=admin, params={"reference_id": str(setting.project_id)}
    )
    check("GET", "/quotas", mine, 200)
    (quota,) = mine.json()
    assert quota["used"]["storage"] > 0  # the fixture's images, chart and index
    check("GET", "/quotas", server.api("GET", "/quotas", auth=user), 403)
    check("GET", "/quotas", server.api("GET", "/quotas"), 401)
    one = "/quotas/{id}"
    path = f"/quotas/{quota['id']}"
    check("GET", one, server.api("GET", path, auth=admin), 200)
    check("GET", one, server.api("GET", "/quotas/999999", auth=admin), 404)
    check("GET", one, server.api("GET", path, auth=user), 403)
    check("GET", one, server.api("GET", path), 401)
    hard = {"hard": {"storage": -1}}
    check("PUT", one, server.api("PUT", path, auth=admin, json=hard), 200)
    check("PUT", one, server.api("PUT", path, auth=admin, json={"hard": {}}), 400)
    check("PUT", one, server.api("PUT", "/quotas/999999", auth=admin, json=hard), 404)
    check("PUT", one, server.api("PUT", path, auth=user, json=hard), 403)
    check("PUT", one, server.api("PUT", path, json=hard), 401)

    summary = server.api("GET", f"/projects/{setting.project}/summary", auth=user)
    check("GET", "/projects/{project_name_or_id}/summary", summary, 200)
    assert summary.json()["quota"] == {"hard": quota["hard"], "used": quota["used"]}

    configurations = server.api("GET", "/configurations", auth=admin)
    check("GET", "/configurations", configurations, 200)
    default = configurations.json()["storage_per_project"]["value"]
    same = {"storage_per_project": default}
    check(
        "PUT", "/configurations", server.api("PUT", "/configurations", auth=admin, json=same), 200
    )
    bad = {"storage_per_project": -7}
    check("PUT", "/configurations", server.api("PUT", "/configurations", auth=admin, json=bad), 400)
    check("GET", "/configurations", server.api("GET", "/configurations", auth=user), 403)
    check("GET", "/configurations", server.api("GET", "/configurations"), 401)
    check("PUT", "/configurations", server.api("PUT", "/configurations", auth=user, json=same), 403)

    created = server.api(
        "POST",
        "/projects",
        auth=admin,
        json={"project_name": server.unique("cquota"), "storage_limit": 1024},
    )
    check("POST", "/projects", created, 201)
    refused = server.api(
        "POST",
        "/projects",
        auth=admin,
        json={"project_name": server.unique("cquota"), "storage_limit": -3},
    )
    check("POST", "/projects", refused, 400)
