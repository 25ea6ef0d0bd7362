"""Nobody learns that a private project exists without the right to see it: ``HEAD /projects``
and ``/users/current/permissions`` answer a private project the caller cannot read exactly as
they answer a name that is nobody's (the asked name aside, where the message repeats it)."""

from __future__ import annotations

import httpx

from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"


def _head(server: Harborlite, name: str, auth: tuple[str, str] | None = None) -> httpx.Response:
    return server.api("HEAD", "/projects", auth=auth, params={"project_name": name})


def _permissions(
    server: Harborlite, ident: str, auth: tuple[str, str] | None = None
) -> tuple[int, str]:
    answer = server.api(
        "GET", "/users/current/permissions", auth=auth, params={"scope": f"/project/{ident}"}
    )
    return answer.status_code, answer.text.replace(ident, "IDENT")


def test_anonymous_head_cannot_tell_a_private_project_from_none(harborlite: Harborlite) -> None:
    private = harborlite.unique("hiddenp")
    public = harborlite.unique("shownp")
    harborlite.create_project(private)
    harborlite.create_project(public, public=True)
    missing = harborlite.unique("nonep")
    hidden, absent = _head(harborlite, private), _head(harborlite, missing)
    assert (hidden.status_code, hidden.content, dict(hidden.headers).keys()) == (
        absent.status_code,
        absent.content,
        dict(absent.headers).keys(),
    )
    assert hidden.status_code == 404
    assert _head(harborlite, public).status_code == 200
    # signed in, the name check before a create sees every name (a create would say 409)
    assert _head(harborlite, private, harborlite.admin).status_code == 200
    assert _head(harborlite, missing, harborlite.admin).status_code == 404


def test_permissions_of_a_project_one_cannot_see_are_those_of_none(
    harborlite: Harborlite,
) -> None:
    private = harborlite.unique("hiddenperm")
    private_id = harborlite.create_project(private)
    public = harborlite.unique("shownperm")
    harborlite.create_project(public, public=True)
    outsider = harborlite.unique("outsider")
    harborlite.create_user(outsider, PASSWORD)
    member = harborlite.unique("insider")
    harborlite.create_user(member, PASSWORD)
    harborlite.add_member(private, member, 2)  # developer
    missing = harborlite.unique("noneperm")
    for auth in (None, (outsider, PASSWORD)):
        assert _permissions(harborlite, private, auth) == _permissions(harborlite, missing, auth)
        assert _permissions(harborlite, str(private_id), auth) == _permissions(
            harborlite, "987654321", auth
        )
    status, body = _permissions(harborlite, private, (outsider, PASSWORD))
    assert status == 404 and "NOT_FOUND" in body
    assert _permissions(harborlite, private, None)[0] == 401
    # those who may see the project get its permissions
    seen = harborlite.api(
        "GET",
        "/users/current/permissions",
        auth=(member, PASSWORD),
        params={"scope": f"/project/{private}", "relative": "true"},
    )
    assert seen.status_code == 200
    assert {"resource": "repository", "action": "push"} in seen.json()
    public_view = harborlite.api(
        "GET",
        "/users/current/permissions",
        auth=(outsider, PASSWORD),
        params={"scope": f"/project/{public}", "relative": "true"},
    )
    assert public_view.status_code == 200
    assert {"resource": "repository", "action": "pull"} in public_view.json()
