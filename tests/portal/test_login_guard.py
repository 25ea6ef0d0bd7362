"""The portal's side of logins that cannot be guessed: the login page locks an account out
after 5 failures (429, "Too many failed logins: try again in N minutes"), the right password
too; Administration > Users disables and enables users, who are then refused at the login
page as a wrong password is.

The failed logins come from a loopback address of this module's own (127.0.0.41), so they
count against nobody else's address on the shared server.
"""

from __future__ import annotations

import httpx

from tests.harness import Harborlite
from tests.portal.conftest import PASSWORD, csrf_of, http_login

ADDRESS = "127.0.0.41"


def _client(server: Harborlite) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=ADDRESS)
    return httpx.Client(base_url=server.url, transport=transport, timeout=30)


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


def test_the_login_page_locks_an_account_out(harborlite: Harborlite) -> None:
    victim = harborlite.unique("portalvictim")
    harborlite.create_user(victim, PASSWORD)
    with _client(harborlite) as client:
        for n in range(5):
            wrong = _login(client, victim, f"Guess{n}xx")
            assert wrong.status_code == 401 and "Invalid user name or password." in wrong.text
        for password in ("Guess9xx", PASSWORD):  # the right password too
            locked = _login(client, victim, password)
            assert locked.status_code == 429
            assert "Too many failed logins: try again in 5 minutes." in locked.text
            assert locked.headers["Retry-After"] in {str(s) for s in range(290, 301)}
            assert "harborlite_session" not in locked.headers.get("set-cookie", "")
        # the page keeps the name typed, and the address is not locked for others
        assert f'value="{victim}"' in locked.text
        other = harborlite.unique("portalother")
        harborlite.create_user(other, PASSWORD)
        assert _login(client, other, PASSWORD).status_code == 303
    logs = harborlite.api(
        "GET",
        "/audit-logs",
        auth=harborlite.admin,
        params={"q": f"username={victim},operation=login", "page_size": 50},
    ).json()
    details = [entry["detail"] for entry in logs]
    assert details.count("locked out for 300 s after 5 failures") == 1
    assert details.count("invalid username/password (portal)") == 5


def test_administration_disables_and_enables_a_user(harborlite: Harborlite) -> None:
    name = harborlite.unique("portaldisabled")
    user_id = harborlite.create_user(name, PASSWORD)
    admin, token = http_login(harborlite, "admin", harborlite.admin_password)
    try:
        with _client(harborlite) as client:
            assert _login(client, name, PASSWORD).status_code == 303
        page = admin.get("/admin/users", params={"q": name}).text
        assert f'action="/admin/users/{user_id}/disable"' in page
        done = admin.post(f"/admin/users/{user_id}/disable", data={"csrf_token": token})
        assert done.status_code == 303
        page = admin.get("/admin/users", params={"q": name}).text
        assert f"User {name} was disabled." in page
        assert ">disabled</span>" in page and f'action="/admin/users/{user_id}/enable"' in page
        with _client(harborlite) as client:
            refused = _login(client, name, PASSWORD)
            wrong = _login(client, name, "Wr0ngPassword")
            assert refused.status_code == wrong.status_code == 401
            assert "Invalid user name or password." in refused.text
        assert harborlite.api("GET", "/users/current", auth=(name, PASSWORD)).status_code == 401
        admin.post(f"/admin/users/{user_id}/enable", data={"csrf_token": token})
        assert f"User {name} was enabled." in admin.get("/admin/users").text
        with _client(harborlite) as client:
            assert _login(client, name, PASSWORD).status_code == 303
        # nobody disables themselves: no button on one's own row, and a refusal if forced
        me = next(
            u["user_id"]
            for u in harborlite.api(
                "GET", "/users", auth=harborlite.admin, params={"username": "admin"}
            ).json()
            if u["username"] == "admin"
        )
        assert f'action="/admin/users/{me}/disable"' not in admin.get("/admin/users").text
        forced = admin.post(f"/admin/users/{me}/disable", data={"csrf_token": token})
        assert "You cannot disable yourself." in admin.get(forced.headers["location"]).text
        assert harborlite.api("GET", "/users/current", auth=harborlite.admin).status_code == 200
    finally:
        admin.close()


def test_only_administrators_disable(harborlite: Harborlite) -> None:
    name = harborlite.unique("portalplain")
    target = harborlite.create_user(harborlite.unique("portaltarget"), PASSWORD)
    harborlite.create_user(name, PASSWORD)
    client, token = http_login(harborlite, name, PASSWORD)
    try:
        refused = client.post(f"/admin/users/{target}/disable", data={"csrf_token": token})
        assert refused.status_code == 403
    finally:
        client.close()
    with _client(harborlite) as other:
        # the target was not disabled: it still logs in (no failure counted here)
        ok = harborlite.api("GET", f"/users/{target}", auth=harborlite.admin).json()
        assert _login(other, ok["username"], PASSWORD).status_code == 303
