"""Disabling users: ``PUT /users/{id}`` with ``"disabled"`` (system administrators only, never
oneself); a disabled user is refused at the REST API, the token service and the portal with
the very answer a wrong password gets, and a portal session they had stops at its next
request; enabled again, they log in again."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"
TOKEN = "/service/token?service=harbor-registry"
_CSRF = re.compile(r'name="csrf(?:-token|_token)" (?:content|value)="([^"]*)"')


def _csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


# the refused logins come from an address of their own, not the suite's 127.0.0.1
ADDRESS = "127.0.0.31"


def client_of(server: Harborlite, auth: tuple[str, str] | None = None) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=ADDRESS)
    return httpx.Client(base_url=server.url, auth=auth, transport=transport, timeout=30)


def portal_login(server: Harborlite, username: str, password: str) -> httpx.Response:
    with client_of(server) as client:
        token = _csrf(client.get("/login").text)
        return client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )


@contextmanager
def signed_in(server: Harborlite, username: str) -> Iterator[httpx.Client]:
    with client_of(server) as client:
        token = _csrf(client.get("/login").text)
        answer = client.post(
            "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
        )
        assert answer.status_code == 303, answer.text
        yield client


def refusals(server: Harborlite, username: str, password: str) -> list[tuple[int, str]]:
    """What the REST API, the token service and the portal answer to these credentials."""
    with client_of(server, (username, password)) as client:
        api = client.get("/api/v2.0/users/current")
        token = client.get(TOKEN)
    portal = portal_login(server, username, password)
    error = re.search(r'role="alert">([^<]*)<', portal.text)
    return [
        (api.status_code, api.text),
        (token.status_code, token.text),
        (portal.status_code, error.group(1) if error else portal.text),
    ]


def set_disabled(
    server: Harborlite, user_id: int, disabled: object, auth: tuple[str, str] | None
) -> int:
    answer = server.api("PUT", f"/users/{user_id}", auth=auth, json={"disabled": disabled})
    return answer.status_code


def eventually(check: object, seconds: float = 3.0) -> None:
    """``check()`` true within ``seconds`` (revocation reaches a cache within one second)."""
    assert callable(check)
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.1)


def test_a_disabled_user_is_refused_as_a_wrong_password_is(harborlite: Harborlite) -> None:
    name = harborlite.unique("disabled")
    user_id = harborlite.create_user(name, PASSWORD)
    wrong = refusals(harborlite, name, "Wr0ngPassword")
    assert [status for status, _ in wrong] == [401, 401, 401]
    with client_of(harborlite, (name, PASSWORD)) as client:
        # the right password: the three failures from this address are forgiven, and the
        # token service's cache knows the password
        assert client.get("/api/v2.0/users/current").status_code == 200
        assert client.get(TOKEN).status_code == 200
        assert set_disabled(harborlite, user_id, True, harborlite.admin) == 200
        eventually(lambda: client.get(TOKEN).status_code == 401)
    assert refusals(harborlite, name, PASSWORD) == wrong
    logs = harborlite.api(
        "GET", "/audit-logs", auth=harborlite.admin, params={"q": f"resource={name}"}
    ).json()
    assert any(e["operation"] == "update" and e["detail"] == "disabled" for e in logs)
    assert set_disabled(harborlite, user_id, False, harborlite.admin) == 200
    with client_of(harborlite, (name, PASSWORD)) as client:
        assert client.get("/api/v2.0/users/current").status_code == 200
        assert client.get(TOKEN).status_code == 200
    assert portal_login(harborlite, name, PASSWORD).status_code == 303


def test_only_system_administrators_disable_and_nobody_themselves(
    harborlite: Harborlite,
) -> None:
    name = harborlite.unique("plain")
    user_id = harborlite.create_user(name, PASSWORD)
    other_id = harborlite.create_user(harborlite.unique("other"), PASSWORD)
    admin_name = harborlite.unique("otheradmin")
    admin_id = harborlite.create_user(admin_name, PASSWORD, admin=True)
    assert set_disabled(harborlite, user_id, True, (name, PASSWORD)) == 403
    assert set_disabled(harborlite, other_id, True, (name, PASSWORD)) == 403
    assert set_disabled(harborlite, admin_id, True, (admin_name, PASSWORD)) == 403
    assert set_disabled(harborlite, user_id, True, None) == 401
    assert set_disabled(harborlite, user_id, "yes", harborlite.admin) == 400
    assert set_disabled(harborlite, 999_999, True, harborlite.admin) == 404
    # none of them took effect; the profile fields still work for the user themselves
    assert harborlite.api("GET", "/users/current", auth=(name, PASSWORD)).status_code == 200
    assert harborlite.api("GET", "/users/current", auth=(admin_name, PASSWORD)).status_code == 200
    profile = harborlite.api(
        "PUT", f"/users/{user_id}", auth=(name, PASSWORD), json={"realname": "Plain User"}
    )
    assert profile.status_code == 200
    [error] = harborlite.api(
        "PUT", f"/users/{admin_id}", auth=(admin_name, PASSWORD), json={"disabled": True}
    ).json()["errors"]
    assert error == {"code": "FORBIDDEN", "message": "you cannot disable yourself"}


def test_profile_and_disabled_in_one_put_are_one_change(harborlite: Harborlite) -> None:
    admin_name = harborlite.unique("selfadmin")
    admin_id = harborlite.create_user(admin_name, PASSWORD, admin=True)
    refused = harborlite.api(
        "PUT",
        f"/users/{admin_id}",
        auth=(admin_name, PASSWORD),
        json={"realname": "Changed", "disabled": True},
    )
    assert refused.status_code == 403
    shown = harborlite.api("GET", f"/users/{admin_id}", auth=harborlite.admin).json()
    assert shown["realname"] == admin_name  # the refusal changed nothing
    name = harborlite.unique("both")
    user_id = harborlite.create_user(name, PASSWORD)
    done = harborlite.api(
        "PUT",
        f"/users/{user_id}",
        auth=harborlite.admin,
        json={"realname": "Both Changed", "disabled": True},
    )
    assert done.status_code == 200
    shown = harborlite.api("GET", f"/users/{user_id}", auth=harborlite.admin).json()
    assert shown["realname"] == "Both Changed"
    assert harborlite.api("GET", "/users/current", auth=(name, PASSWORD)).status_code == 401


@pytest.mark.parametrize("how", ["disabled", "deleted"])
def test_a_portal_session_stops_at_the_next_request(harborlite: Harborlite, how: str) -> None:
    name = harborlite.unique(f"session{how}")
    user_id = harborlite.create_user(name, PASSWORD)
    with signed_in(harborlite, name) as client:
        assert client.get("/api/v2.0/users/current").json()["username"] == name
        assert client.get("/projects").status_code == 200
        if how == "disabled":
            assert set_disabled(harborlite, user_id, True, harborlite.admin) == 200
        else:
            assert harborlite.api("DELETE", f"/users/{user_id}", auth=harborlite.admin).is_success
        assert client.get("/api/v2.0/users/current").status_code == 401
        page = client.get("/projects")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
    if how == "disabled":  # enabled again, the old session stays dead: a new login is needed
        assert set_disabled(harborlite, user_id, False, harborlite.admin) == 200
        with signed_in(harborlite, name) as again:
            assert again.get("/api/v2.0/users/current").status_code == 200
