"""``/projects/{p}/metadatas/``: a project's settings as strings, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"


def test_metadata_is_added_read_updated_and_deleted(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    project = harborlite.unique("meta")
    harborlite.create_project(project)
    base = f"/projects/{project}/metadatas/"

    listed = harborlite.api("GET", base, auth=admin)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"public": "false"}

    added = harborlite.api("POST", base, auth=admin, json={"auto_scan": "true", "severity": "High"})
    assert added.status_code == 200, added.text
    assert harborlite.api("GET", base, auth=admin).json() == {
        "public": "false",
        "auto_scan": "true",
        "severity": "high",
    }
    conflict = harborlite.api("POST", base, auth=admin, json={"auto_scan": "false"})
    assert conflict.status_code == 409 and conflict.json()["errors"][0]["code"] == "CONFLICT"
    for bad in ({"nosuch": "1"}, {"auto_scan": "yes"}, {"severity": "awful"}, {"prevent_vul": 1}):
        response = harborlite.api("POST", base, auth=admin, json=bad)
        assert response.status_code == 400, (bad, response.text)
    assert harborlite.api("POST", base, auth=admin, json={}).status_code == 400

    one = harborlite.api("GET", base + "severity", auth=admin)
    assert one.status_code == 200 and one.json() == {"severity": "high"}
    assert harborlite.api("GET", base + "prevent_vul", auth=admin).status_code == 404

    # public is the project's public flag: anonymous callers can now read the project
    made_public = harborlite.api("PUT", base + "public", auth=admin, json={"public": "true"})
    assert made_public.status_code == 200, made_public.text
    assert harborlite.api("GET", f"/projects/{project}").json()["metadata"]["public"] == "true"
    assert harborlite.api("GET", base + "public").json() == {"public": "true"}
    mismatched = harborlite.api("PUT", base + "public", auth=admin, json={"auto_scan": "true"})
    assert mismatched.status_code == 400
    missing = harborlite.api("PUT", base + "prevent_vul", auth=admin, json={"prevent_vul": "true"})
    assert missing.status_code == 404

    assert harborlite.api("DELETE", base + "severity", auth=admin).status_code == 200
    assert harborlite.api("DELETE", base + "severity", auth=admin).status_code == 404
    assert harborlite.api("DELETE", base + "public", auth=admin).status_code == 200
    assert harborlite.api("GET", f"/projects/{project}").status_code == 401  # private again
    assert harborlite.api("GET", base, auth=admin).json() == {"auto_scan": "true"}
    assert (
        harborlite.api("GET", "/projects/nosuchproject/metadatas/", auth=admin).status_code == 404
    )

    logs = harborlite.api(
        "GET",
        f"/projects/{project}/logs",
        auth=admin,
        params={"q": "resource_type=project", "page_size": 50},
    ).json()
    assert sorted(entry["operation"] for entry in logs) == [
        "create",
        "delete",
        "delete",
        "update",
        "update",
    ]
