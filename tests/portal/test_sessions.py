"""Portal sessions, CSRF and the session cookie on the REST API, over plain HTTP, on SQLite and
PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.harness import Harborlite
from tests.portal.conftest import PASSWORD, csrf_of, http_login


def test_session_cookie_attributes_and_bad_credentials(harborlite: Harborlite) -> None:
    with httpx.Client(base_url=harborlite.url, timeout=30) as client:
        token = csrf_of(client.get("/login").text)
        bad = client.post(
            "/login", data={"username": "admin", "password": "wrong", "csrf_token": token}
        )
        assert bad.status_code == 401
        assert "Invalid user name or password." in bad.text
        assert "harborlite_session" not in bad.headers.get("set-cookie", "")
        good = client.post(
            "/login",
            data={"username": "admin", "password": harborlite.admin_password, "csrf_token": token},
        )
        assert good.status_code == 303
        cookie = next(
            v for v in good.headers.get_list("set-cookie") if v.startswith("harborlite_session=")
        )
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "samesite", "path"} <= attributes
        assert "samesite=lax" in cookie.lower()
        assert "secure" not in attributes  # served over plain HTTP here
    failed = harborlite.api(
        "GET", "/audit-logs", auth=harborlite.admin, params={"page_size": 20}
    ).json()
    assert any(e["operation"] == "login" and not e["success"] for e in failed)


def test_login_form_needs_its_csrf_token(harborlite: Harborlite) -> None:
    with httpx.Client(base_url=harborlite.url, timeout=30) as client:
        client.get("/login")
        response = client.post(
            "/login", data={"username": "admin", "password": harborlite.admin_password}
        )
        assert response.status_code == 403
        assert "harborlite_session" not in response.headers.get("set-cookie", "")


def test_login_only_redirects_inside_the_site(harborlite: Harborlite) -> None:
    for target, expected in (("//evil.example/x", "/"), ("/projects", "/projects")):
        with httpx.Client(base_url=harborlite.url, timeout=30) as client:
            token = csrf_of(client.get("/login").text)
            response = client.post(
                "/login",
                data={
                    "username": "admin",
                    "password": harborlite.admin_password,
                    "csrf_token": token,
                    "next": target,
                },
            )
            assert response.headers["location"] == expected


def test_logout_really_ends_the_session(harborlite: Harborlite) -> None:
    client, token = http_login(harborlite, "admin", harborlite.admin_password)
    stolen = client.cookies["harborlite_session"]
    try:
        assert client.get("/api/v2.0/users/current").json()["username"] == "admin"
        response = client.post("/logout", data={"csrf_token": token})
        assert response.status_code == 303
    finally:
        client.close()
    with httpx.Client(
        base_url=harborlite.url, cookies={"harborlite_session": stolen}, timeout=30
    ) as replay:
        page = replay.get("/projects")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert replay.get("/api/v2.0/users/current").status_code == 401


def test_api_writes_with_the_cookie_need_the_csrf_header(harborlite: Harborlite) -> None:
    client, token = http_login(harborlite, "admin", harborlite.admin_password)
    try:
        name = harborlite.unique("cookieapi")
        body = {"project_name": name, "metadata": {"public": "false"}}
        refused = client.post("/api/v2.0/projects", json=body)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["code"] == "FORBIDDEN"
        assert "CSRF" in refused.json()["errors"][0]["message"]
        wrong = client.post(
            "/api/v2.0/projects", json=body, headers={"X-Harbor-CSRF-Token": "forged"}
        )
        assert wrong.status_code == 403
        created = client.post(
            "/api/v2.0/projects", json=body, headers={"X-Harbor-CSRF-Token": token}
        )
        assert created.status_code == 201, created.text
        # Reads need no token; Basic auth is unaffected by the cookie rules.
        assert client.get(f"/api/v2.0/projects/{name}").status_code == 200
    finally:
        client.close()
    other = harborlite.unique("basicapi")
    response = harborlite.api(
        "POST", "/projects", auth=harborlite.admin, json={"project_name": other}
    )
    assert response.status_code == 201


def test_idle_sessions_expire(harborlite_sqlite: Harborlite) -> None:
    client, _ = http_login(harborlite_sqlite, "admin", harborlite_sqlite.admin_password)
    try:
        assert client.get("/projects").status_code == 200
        long_ago = (datetime.now(UTC) - timedelta(minutes=61)).strftime("%Y-%m-%d %H:%M:%S.%f")
        with sqlite3.connect(harborlite_sqlite.data_dir / "harborlite.db") as db:
            db.execute("UPDATE portal_sessions SET last_seen = ?", (long_ago,))
        expired = client.get("/projects")
        assert expired.status_code == 303
        assert expired.headers["location"] == "/login?next=%2Fprojects"
        assert "harborlite_session=;" in expired.headers.get("set-cookie", "")
    finally:
        client.close()


@pytest.mark.parametrize("path", ["/", "/projects", "/admin/users", "/account"])
def test_pages_need_a_login(harborlite_sqlite: Harborlite, path: str) -> None:
    response = httpx.get(harborlite_sqlite.url + path, timeout=30)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_project_lifecycle_through_forms(harborlite: Harborlite) -> None:
    client, token = http_login(harborlite, "admin", harborlite.admin_password)
    user = harborlite.unique("member")
    harborlite.create_user(user, PASSWORD)
    name = harborlite.unique("formproj")
    try:
        created = client.post("/projects", data={"name": name, "csrf_token": token})
        assert created.status_code == 303 and created.headers["location"] == f"/projects/{name}"
        bad = client.post("/projects", data={"name": "Bad Name!", "csrf_token": token})
        assert bad.status_code == 303
        assert "not a valid project name" in client.get(bad.headers["location"]).text

        added = client.post(
            f"/projects/{name}/members",
            data={"username": user, "role": "3", "csrf_token": token},
        )
        assert added.status_code == 303
        members = harborlite.api("GET", f"/projects/{name}/members", auth=harborlite.admin).json()
        member = next(m for m in members if m["entity_name"] == user)
        assert member["role_id"] == 3
        client.post(
            f"/projects/{name}/members/{member['id']}/role",
            data={"role": "4", "csrf_token": token},
        )
        members = harborlite.api("GET", f"/projects/{name}/members", auth=harborlite.admin).json()
        assert next(m for m in members if m["entity_name"] == user)["role_id"] == 4
        client.post(f"/projects/{name}/members/{member['id']}/remove", data={"csrf_token": token})
        members = harborlite.api("GET", f"/projects/{name}/members", auth=harborlite.admin).json()
        assert all(m["entity_name"] != user for m in members)

        client.post(f"/projects/{name}/configuration", data={"public": "on", "csrf_token": token})
        project = harborlite.api("GET", f"/projects/{name}", auth=harborlite.admin).json()
        assert project["metadata"]["public"] == "true"

        listing = client.get("/projects", params={"q": name})
        assert name in listing.text and "public" in listing.text

        deleted = client.post(f"/projects/{name}/delete", data={"csrf_token": token})
        assert deleted.status_code == 303
        assert harborlite.api("GET", f"/projects/{name}", auth=harborlite.admin).status_code == 404
    finally:
        client.close()


def test_admin_manages_users(harborlite: Harborlite) -> None:
    client, token = http_login(harborlite, "admin", harborlite.admin_password)
    name = harborlite.unique("managed")
    try:
        response = client.post(
            "/admin/users",
            data={"username": name, "password": PASSWORD, "email": "", "csrf_token": token},
        )
        assert response.status_code == 303
        user_id = next(
            u["user_id"]
            for u in harborlite.api(
                "GET", "/users", auth=harborlite.admin, params={"username": name}
            ).json()
        )
        victim, _ = http_login(harborlite, name, PASSWORD)
        client.post(f"/admin/users/{user_id}/admin", data={"sysadmin": "true", "csrf_token": token})
        assert victim.get("/admin/users").status_code == 200  # now an admin
        client.post(
            f"/admin/users/{user_id}/admin", data={"sysadmin": "false", "csrf_token": token}
        )
        assert victim.get("/admin/users").status_code == 403
        client.post(
            f"/admin/users/{user_id}/password",
            data={"password": "N3wPassword", "csrf_token": token},
        )
        assert victim.get("/projects").status_code == 303  # signed out by the reset
        victim.close()
        again, _ = http_login(harborlite, name, "N3wPassword")
        again.close()
        weak = client.post(
            f"/admin/users/{user_id}/password", data={"password": "short", "csrf_token": token}
        )
        assert "at least 8" in client.get(weak.headers["location"]).text
        client.post(f"/admin/users/{user_id}/delete", data={"csrf_token": token})
        assert harborlite.api("GET", f"/users/{user_id}", auth=harborlite.admin).status_code == 404
        logs = client.get("/admin/logs", params={"resource": name, "operation": "delete"})
        assert logs.status_code == 200 and name in logs.text
    finally:
        client.close()


def test_own_password_change(harborlite: Harborlite) -> None:
    name = harborlite.unique("changer")
    harborlite.create_user(name, PASSWORD)
    client, token = http_login(harborlite, name, PASSWORD)
    try:
        mismatch = client.post(
            "/account/password",
            data={
                "old_password": PASSWORD,
                "new_password": "Another1Pass",
                "confirm_password": "Different1Pass",
                "csrf_token": token,
            },
        )
        assert "do not match" in client.get(mismatch.headers["location"]).text
        changed = client.post(
            "/account/password",
            data={
                "old_password": PASSWORD,
                "new_password": "Another1Pass",
                "confirm_password": "Another1Pass",
                "csrf_token": token,
            },
        )
        assert "password was changed" in client.get(changed.headers["location"]).text
        assert client.get("/projects").status_code == 200  # this session stays
    finally:
        client.close()
    assert harborlite.api("GET", "/users/current", auth=(name, "Another1Pass")).status_code == 200


def test_user_strings_are_escaped(harborlite_sqlite: Harborlite) -> None:
    client, _ = http_login(harborlite_sqlite, "admin", harborlite_sqlite.admin_password)
    try:
        page = client.get("/projects", params={"q": "<script>alert(1)</script>"})
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    finally:
        client.close()


def test_a_password_changed_anywhere_ends_portal_sessions(harborlite_sqlite: Harborlite) -> None:
    """An admin resetting a password through the REST API (or the CLI) signs the user out of
    the portal, as the portal's own reset does."""
    name = harborlite_sqlite.unique("reset")
    user_id = harborlite_sqlite.create_user(name, PASSWORD)
    client, _ = http_login(harborlite_sqlite, name, PASSWORD)
    try:
        assert client.get("/projects").status_code == 200
        reset = harborlite_sqlite.api(
            "PUT",
            f"/users/{user_id}/password",
            auth=harborlite_sqlite.admin,
            json={"new_password": "Reset1234x"},
        )
        assert reset.status_code == 200
        ended = client.get("/projects")
        assert ended.status_code == 303
        assert ended.headers["location"].startswith("/login")
    finally:
        client.close()
    # the user's own change in the portal keeps the session that made it
    client, csrf = http_login(harborlite_sqlite, name, "Reset1234x")
    try:
        changed = client.post(
            "/account/password",
            data={
                "old_password": "Reset1234x",
                "new_password": "Again1234x",
                "confirm_password": "Again1234x",
                "csrf_token": csrf,
            },
        )
        assert changed.status_code == 303
        assert client.get("/projects").status_code == 200
    finally:
        client.close()
