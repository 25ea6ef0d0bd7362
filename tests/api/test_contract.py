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
