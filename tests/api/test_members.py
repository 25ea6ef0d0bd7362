"""``/projects/{p}/members`` pages like every other list, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"


def test_members_are_paged_with_total_and_links(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    project = harborlite.unique("mpage")
    harborlite.create_project(project)  # the admin is its first member
    prefix = harborlite.unique("mp")
    for n in range(4):
        harborlite.create_user(f"{prefix}{n}", PASSWORD)
        harborlite.add_member(project, f"{prefix}{n}", 2)
    url = f"/projects/{project}/members"

    first = harborlite.api("GET", url, auth=admin, params={"page_size": 2})
    assert first.status_code == 200, first.text
    assert first.headers["X-Total-Count"] == "5"
    assert len(first.json()) == 2
    assert 'rel="next"' in first.headers["Link"] and 'rel="prev"' not in first.headers["Link"]
    last = harborlite.api("GET", url, auth=admin, params={"page_size": 2, "page": 3})
    assert len(last.json()) == 1
    assert 'rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]
    seen = [
        m["entity_name"]
        for page in (1, 2, 3)
        for m in harborlite.api(
            "GET", url, auth=admin, params={"page_size": 2, "page": page}
        ).json()
    ]
    assert len(set(seen)) == 5 and seen[0] == "admin"

    named = harborlite.api("GET", url, auth=admin, params={"entityname": prefix, "page_size": 3})
    assert named.headers["X-Total-Count"] == "4" and len(named.json()) == 3
    assert all(m["entity_name"].startswith(prefix) for m in named.json())
    everyone = harborlite.api("GET", url, auth=admin)
    assert len(everyone.json()) == 5 and "Link" not in everyone.headers
    assert harborlite.api("GET", url, auth=admin, params={"page_size": 0}).status_code == 400
    assert harborlite.api("GET", url, auth=admin, params={"page": "x"}).status_code == 400


def test_the_last_project_admin_stays_unless_a_system_administrator_drops_it(
    harborlite: Harborlite,
) -> None:
    owner = harborlite.unique("only")
    harborlite.create_user(owner, PASSWORD)
    project = harborlite.unique("lastpa")
    made = harborlite.api(
        "POST", "/projects", auth=(owner, PASSWORD), json={"project_name": project}
    )
    assert made.status_code == 201, made.text
    url = f"/projects/{project}/members"
    again = harborlite.api(
        "POST",
        url,
        auth=(owner, PASSWORD),
        json={"role_id": 2, "member_user": {"username": owner}},
    )
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "CONFLICT"
    mine = harborlite.api("GET", url, auth=(owner, PASSWORD)).json()
    assert [(m["entity_name"], m["role_id"]) for m in mine] == [(owner, 1)]
    member = f"{url}/{mine[0]['id']}"
    for method, body in (("PUT", {"role_id": 2}), ("DELETE", None)):
        refused = harborlite.api(method, member, auth=(owner, PASSWORD), json=body)
        assert refused.status_code == 403, refused.text
        assert "last project admin" in refused.json()["errors"][0]["message"]
    kept = harborlite.api("PUT", member, auth=(owner, PASSWORD), json={"role_id": 1})
    assert kept.status_code == 200, kept.text  # staying ProjectAdmin is no demotion
    gone = harborlite.api("DELETE", f"{url}/999999", auth=(owner, PASSWORD))
    assert gone.status_code == 404
    assert harborlite.api("DELETE", member, auth=harborlite.admin).status_code == 200
    assert harborlite.api("GET", url, auth=harborlite.admin).json() == []
