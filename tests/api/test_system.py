"""Projects, users, search, statistics and system endpoints: Harbor's conventions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.api.pushing import Pusher
from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"


def test_project_list_filters_sorting_and_paging(harborlite: Harborlite) -> None:
    owner = harborlite.unique("owner")
    harborlite.create_user(owner, PASSWORD)
    prefix = harborlite.unique("plist")
    names = [f"{prefix}-{n}" for n in ("b", "a", "c")]
    for index, name in enumerate(names):
        response = harborlite.api(
            "POST",
            "/projects",
            auth=(owner, PASSWORD),
            json={"project_name": name, "metadata": {"public": str(index == 0).lower()}},
        )
        assert response.status_code == 201, response.text
        assert response.headers["Location"].startswith("/api/v2.0/projects/")
    by_name = harborlite.api(
        "POST",
        "/projects",
        auth=harborlite.admin,
        headers={"X-Resource-Name-In-Location": "true"},
        json={"project_name": f"{prefix}-named"},
    )
    assert by_name.headers["Location"] == f"/api/v2.0/projects/{prefix}-named"
    duplicate = harborlite.api(
        "POST", "/projects", auth=harborlite.admin, json={"project_name": names[0]}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["errors"][0]["code"] == "CONFLICT"

    mine = harborlite.api(
        "GET", "/projects", params={"owner": owner, "sort": "name"}, auth=harborlite.admin
    )
    assert mine.status_code == 200
    assert [p["name"] for p in mine.json()] == sorted(names)
    assert all(p["owner_name"] == owner for p in mine.json())
    assert mine.headers["X-Total-Count"] == "3"
    newest = harborlite.api(
        "GET", "/projects", params={"name": prefix, "sort": "-creation_time"}, auth=harborlite.admin
    )
    assert [p["name"] for p in newest.json()] == [f"{prefix}-named", *reversed(names)]
    public = harborlite.api(
        "GET", "/projects", params={"name": prefix, "public": "true"}, auth=harborlite.admin
    )
    assert [p["name"] for p in public.json()] == [names[0]]
    exact = harborlite.api(
        "GET", "/projects", params={"q": f"name={names[1]}"}, auth=harborlite.admin
    )
    assert [p["name"] for p in exact.json()] == [names[1]]
    either = harborlite.api(
        "GET",
        "/projects",
        params={"q": f"name={{{names[1]} {names[2]}}}", "sort": "name"},
        auth=harborlite.admin,
    )
    assert [p["name"] for p in either.json()] == [names[1], names[2]]
    paged = harborlite.api(
        "GET",
        "/projects",
        params={"name": prefix, "page_size": 1, "page": 2},
        auth=harborlite.admin,
    )
    assert paged.headers["X-Total-Count"] == "4"
    assert 'rel="prev"' in paged.headers["Link"] and 'rel="next"' in paged.headers["Link"]
    assert "page=3" in paged.headers["Link"]

    # the owner sees its role; an anonymous caller sees only the public one
    own = harborlite.api("GET", "/projects", params={"name": prefix}, auth=(owner, PASSWORD))
    assert {p["name"]: p["current_user_role_id"] for p in own.json()} == {n: 1 for n in names}
    anonymous = httpx.get(f"{harborlite.url}/api/v2.0/projects", params={"name": prefix})
    assert [p["name"] for p in anonymous.json()] == [names[0]]

    head = httpx.head(f"{harborlite.url}/api/v2.0/projects", params={"project_name": names[0]})
    assert head.status_code == 200
    missing = httpx.head(f"{harborlite.url}/api/v2.0/projects", params={"project_name": "zz-none"})
    assert missing.status_code == 404


def test_project_by_id_or_name_metadata_and_summary(harborlite: Harborlite) -> None:
    name = harborlite.unique("9")  # a name made of digits only, to test X-Is-Resource-Name
    name = name.replace("-", "0")
    project_id = harborlite.create_project(name)
    by_id = harborlite.api("GET", f"/projects/{project_id}", auth=harborlite.admin).json()
    assert by_id["name"] == name
    by_name = harborlite.api(
        "GET", f"/projects/{name}", auth=harborlite.admin, headers={"X-Is-Resource-Name": "true"}
    )
    assert by_name.json()["project_id"] == project_id

    updated = harborlite.api(
        "PUT",
        f"/projects/{project_id}",
        auth=harborlite.admin,
        json={"metadata": {"public": "true", "auto_scan": "true", "severity": "high"}},
    )
    assert updated.status_code == 200
    metadata = harborlite.api("GET", f"/projects/{project_id}", auth=harborlite.admin).json()[
        "metadata"
    ]
    assert metadata == {"public": "true", "auto_scan": "true", "severity": "high"}

    user = harborlite.unique("summ")
    harborlite.create_user(user, PASSWORD)
    harborlite.add_member(str(project_id), user, 2)
    with Pusher(harborlite) as pusher:
        image = pusher.image(f"{name}/app", "1")
    summary = harborlite.api("GET", f"/projects/{project_id}/summary", auth=harborlite.admin).json()
    assert summary["repo_count"] == 1
    assert summary["project_admin_count"] == 1  # the admin who created it
    assert summary["developer_count"] == 1
    assert summary["maintainer_count"] == 0
    assert summary["quota"]["used"]["storage"] == image.size
    assert harborlite.api("GET", "/projects/999999", auth=harborlite.admin).status_code == 404


def test_users_search_profile_password_and_permissions(harborlite: Harborlite) -> None:
    name = harborlite.unique("finder")
    user_id = harborlite.create_user(name, PASSWORD)
    me = (name, PASSWORD)
    found = harborlite.api("GET", "/users/search", params={"username": name}, auth=me)
    assert found.status_code == 200
    assert found.json() == [{"user_id": user_id, "username": name}]
    assert found.headers["X-Total-Count"] == "1"
    assert httpx.get(f"{harborlite.url}/api/v2.0/users/search?username=a").status_code == 401
    listed = harborlite.api(
        "GET",
        "/users",
        params={"q": f"username=~{name}", "sort": "-user_id"},
        auth=harborlite.admin,
    )
    assert [u["username"] for u in listed.json()] == [name]
    assert listed.headers["X-Total-Count"] == "1"

    profile = harborlite.api(
        "PUT", f"/users/{user_id}", auth=me, json={"realname": "Fin Der", "comment": "hi"}
    )
    assert profile.status_code == 200
    current = harborlite.api("GET", "/users/current", auth=me).json()
    assert current["realname"] == "Fin Der" and current["comment"] == "hi"
    other = harborlite.create_user(harborlite.unique("other"), PASSWORD)
    assert (
        harborlite.api("PUT", f"/users/{other}", auth=me, json={"comment": "x"}).status_code == 403
    )

    wrong = harborlite.api(
        "PUT",
        f"/users/{user_id}/password",
        auth=me,
        json={"old_password": "nope", "new_password": "Newpassw0rd!"},
    )
    assert wrong.status_code == 403
    by_admin = harborlite.api(
        "PUT",
        f"/users/{user_id}/password",
        auth=harborlite.admin,
        json={"new_password": "Newpassw0rd!"},
    )
    assert by_admin.status_code == 200
    me = (name, "Newpassw0rd!")
    assert harborlite.api("GET", "/users/current", auth=me).status_code == 200

    project = harborlite.unique("perm")
    project_id = harborlite.create_project(project)
    harborlite.add_member(project, name, 3)  # guest
    relative = harborlite.api(
        "GET",
        "/users/current/permissions",
        params={"scope": f"/project/{project_id}", "relative": "true"},
        auth=me,
    ).json()
    pairs = {(p["resource"], p["action"]) for p in relative}
    assert ("repository", "pull") in pairs and ("repository", "push") not in pairs
    assert (".", "read") in pairs and ("member", "list") in pairs and ("log", "list") not in pairs
    absolute = harborlite.api(
        "GET", "/users/current/permissions", params={"scope": f"/project/{project_id}"}, auth=me
    ).json()
    assert {"resource": f"/project/{project_id}/repository", "action": "pull"} in absolute
    admin = harborlite.api(
        "GET",
        "/users/current/permissions",
        params={"scope": f"/project/{project_id}"},
        auth=harborlite.admin,
    ).json()
    assert {"resource": f"/project/{project_id}/repository", "action": "delete"} in admin


def test_search_and_statistics(harborlite: Harborlite) -> None:
    word = harborlite.unique("findme")
    private = f"{word}-private"
    public = f"{word}-public"
    harborlite.create_project(private)
    harborlite.create_project(public, public=True)
    with Pusher(harborlite) as pusher:
        pusher.image(f"{private}/{word}-app", "1")
        pusher.image(f"{public}/{word}-app", "1")
    found = harborlite.api("GET", "/search", params={"q": word}, auth=harborlite.admin).json()
    assert {p["name"] for p in found["project"]} == {private, public}
    repos = {r["repository_name"]: r for r in found["repository"]}
    assert set(repos) == {f"{private}/{word}-app", f"{public}/{word}-app"}
    assert repos[f"{public}/{word}-app"]["project_public"] is True
    assert repos[f"{public}/{word}-app"]["artifact_count"] == 1
    anonymous = httpx.get(f"{harborlite.url}/api/v2.0/search", params={"q": word}).json()
    assert [p["name"] for p in anonymous["project"]] == [public]
    assert [r["repository_name"] for r in anonymous["repository"]] == [f"{public}/{word}-app"]

    stats = harborlite.api("GET", "/statistics", auth=harborlite.admin).json()
    assert (
        stats["total_project_count"]
        == stats["public_project_count"] + stats["private_project_count"]
    )
    assert stats["total_repo_count"] >= 2
    assert stats["total_storage_consumption"] > 0
    nobody = harborlite.unique("stat")
    harborlite.create_user(nobody, PASSWORD)
    theirs = harborlite.api("GET", "/statistics", auth=(nobody, PASSWORD)).json()
    assert theirs["private_project_count"] == 0 and "total_project_count" not in theirs
    assert httpx.get(f"{harborlite.url}/api/v2.0/statistics").status_code == 401


def test_audit_log_queries_and_visibility(harborlite: Harborlite) -> None:
    project = harborlite.unique("audited")
    harborlite.create_project(project)
    admin_of = harborlite.unique("padmin")
    harborlite.create_user(admin_of, PASSWORD)
    harborlite.add_member(project, admin_of, 1)
    with Pusher(harborlite) as pusher:
        pusher.image(f"{project}/app", "1")
    now = datetime.now(UTC)
    window = (
        f"[{(now - timedelta(minutes=5)).strftime('%Y-%m-%d %H:%M:%S')}"
        f"~{(now + timedelta(minutes=5)).strftime('%Y-%m-%d %H:%M:%S')}]"
    )
    pushes = harborlite.api(
        "GET",
        "/audit-logs",
        params={"q": f"operation=push,resource=~{project}/,op_time={window}", "page_size": 100},
        auth=harborlite.admin,
    ).json()
    assert [e["resource"] for e in pushes] == [f"{project}/app:1"]
    assert pushes[0]["username"] == "admin" and pushes[0]["resource_type"] == "artifact"
    by_type = harborlite.api(
        "GET",
        "/audit-logs",
        params={"q": f"resource_type=member,resource=~{project}/", "sort": "op_time"},
        auth=harborlite.admin,
    ).json()
    assert [e["resource"] for e in by_type] == [f"{project}/{admin_of}"]
    past = harborlite.api(
        "GET",
        "/audit-logs",
        params={"q": "op_time=[2000-01-01 00:00:00~2000-01-02 00:00:00]"},
        auth=harborlite.admin,
    )
    assert past.headers["X-Total-Count"] == "0"

    # a project admin sees the entries of the projects it administers, and no others
    theirs = harborlite.api(
        "GET", "/audit-logs", params={"page_size": 100}, auth=(admin_of, PASSWORD)
    ).json()
    assert theirs and all(project in e["resource"] for e in theirs)
    logs = harborlite.api("GET", f"/projects/{project}/logs", auth=(admin_of, PASSWORD))
    assert logs.status_code == 200 and int(logs.headers["X-Total-Count"]) >= 2
    assert httpx.get(f"{harborlite.url}/api/v2.0/audit-logs").status_code == 401


def test_system_endpoints_request_ids_and_error_envelope(harborlite: Harborlite) -> None:
    info = harborlite.api("GET", "/systeminfo").json()
    assert info["auth_mode"] == "db_auth"
    assert info["harbor_version"].startswith("v2.")
    assert info["external_url"] == harborlite.url
    assert info["registry_url"] == harborlite.host
    health = harborlite.api("GET", "/health").json()
    assert health["status"] == "healthy"
    assert {c["name"] for c in health["components"]} >= {"core", "database", "registry"}
    ping = harborlite.api("GET", "/ping")
    assert ping.status_code == 200 and ping.text == "Pong"

    echoed = harborlite.api("GET", "/ping", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["X-Request-Id"] == "abc-123"
    assert harborlite.api("GET", "/ping").headers["X-Request-Id"]

    unknown = harborlite.api("GET", "/no/such/endpoint", auth=harborlite.admin)
    assert unknown.status_code == 404
    assert unknown.json() == {"errors": [{"code": "NOT_FOUND", "message": "no such API endpoint"}]}
    wrong = harborlite.api("GET", "/users/current", auth=("admin", "wrong-password"))
    assert wrong.status_code == 401 and wrong.json()["errors"][0]["code"] == "UNAUTHORIZED"
    bad = harborlite.api("GET", "/projects", params={"page": "x"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "BAD_REQUEST"
    bad_q = harborlite.api("GET", "/projects", params={"q": "name"})
    assert bad_q.status_code == 400
