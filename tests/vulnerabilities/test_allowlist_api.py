"""The CVE allowlists through the API with a real server: the system's
(``/system/CVEAllowlist``) and a project's (``cve_allowlist`` of the project's bodies), with
Harbor's shapes, who may change them, and the refusals (nothing changed by a refused body)."""

from __future__ import annotations

import time

import pytest

from tests.harness import Harborlite

SYSTEM = "/system/CVEAllowlist"
PASSWORD = "Passw0rd!x"


def ids(body: dict[str, object]) -> list[str]:
    items = body["items"]
    assert isinstance(items, list)
    return [item["cve_id"] for item in items]


@pytest.fixture(autouse=True)
def empty_system_list(harborlite: Harborlite) -> None:
    put = harborlite.api("PUT", SYSTEM, auth=harborlite.admin, json={"items": []})
    assert put.status_code == 200, put.text


def test_the_system_allowlist_is_read_by_anyone_signed_in_and_set_by_admins(
    harborlite: Harborlite,
) -> None:
    expires = int(time.time()) + 3600
    body = {"items": [{"cve_id": "CVE-2024-0001"}, {"cve_id": "GHSA-aaaa"}], "expires_at": expires}
    put = harborlite.api("PUT", SYSTEM, auth=harborlite.admin, json=body)
    assert put.status_code == 200, put.text

    user = harborlite.unique("reader")
    harborlite.create_user(user, PASSWORD)
    got = harborlite.api("GET", SYSTEM, auth=(user, PASSWORD))
    assert got.status_code == 200, got.text
    shown = got.json()
    assert ids(shown) == ["CVE-2024-0001", "GHSA-aaaa"]
    assert shown["project_id"] == 0 and shown["expires_at"] == expires
    assert shown["id"] > 0 and shown["creation_time"] and shown["update_time"]

    assert harborlite.api("GET", SYSTEM).status_code == 401  # anonymous
    refused = harborlite.api("PUT", SYSTEM, auth=(user, PASSWORD), json={"items": []})
    assert refused.status_code == 403, refused.text
    assert refused.json()["errors"][0]["code"] == "FORBIDDEN"
    assert ids(harborlite.api("GET", SYSTEM, auth=harborlite.admin).json()) == [
        "CVE-2024-0001",
        "GHSA-aaaa",
    ]

    # no expiry: never expires, and expires_at is left out as Harbor does
    put = harborlite.api(
        "PUT", SYSTEM, auth=harborlite.admin, json={"items": [], "expires_at": None}
    )
    assert put.status_code == 200
    assert "expires_at" not in harborlite.api("GET", SYSTEM, auth=harborlite.admin).json()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"items": [{"cve_id": "CVE-1"}, {"cve_id": "CVE-1"}]},
            "duplicate CVE ID in allowlist: CVE-1",
        ),
        ({"items": [{"cve_id": ""}]}, "invalid CVE ID"),
        ({"items": [{"cve_id": "CVE-1"}], "expires_at": 1000}, "must be in the future"),
        ({"items": "CVE-1"}, '"items" must be a list'),
    ],
)
def test_refused_system_allowlists_change_nothing(
    harborlite: Harborlite, body: object, message: str
) -> None:
    before = {"items": [{"cve_id": "CVE-KEPT"}]}
    assert harborlite.api("PUT", SYSTEM, auth=harborlite.admin, json=before).status_code == 200
    refused = harborlite.api("PUT", SYSTEM, auth=harborlite.admin, json=body)
    assert refused.status_code == 400, refused.text
    error = refused.json()["errors"][0]
    assert error["code"] == "BAD_REQUEST" and message in error["message"]
    assert ids(harborlite.api("GET", SYSTEM, auth=harborlite.admin).json()) == ["CVE-KEPT"]


def test_a_projects_allowlist_in_its_create_update_and_get(harborlite: Harborlite) -> None:
    name = harborlite.unique("allow")
    expires = int(time.time()) + 600
    created = harborlite.api(
        "POST",
        "/projects",
        auth=harborlite.admin,
        json={
            "project_name": name,
            "metadata": {"reuse_sys_cve_allowlist": "false"},
            "cve_allowlist": {"items": [{"cve_id": "CVE-2023-1"}], "expires_at": expires},
        },
    )
    assert created.status_code == 201, created.text
    shown = harborlite.api("GET", f"/projects/{name}", auth=harborlite.admin).json()
    allowlist = shown["cve_allowlist"]
    assert ids(allowlist) == ["CVE-2023-1"] and allowlist["expires_at"] == expires
    assert allowlist["project_id"] == shown["project_id"]
    assert shown["metadata"]["reuse_sys_cve_allowlist"] == "false"

    updated = harborlite.api(
        "PUT",
        f"/projects/{name}",
        auth=harborlite.admin,
        json={"cve_allowlist": {"items": [{"cve_id": "CVE-2023-2"}, {"cve_id": "CVE-2023-3"}]}},
    )
    assert updated.status_code == 200, updated.text
    allowlist = harborlite.api("GET", f"/projects/{name}", auth=harborlite.admin).json()[
        "cve_allowlist"
    ]
    assert ids(allowlist) == ["CVE-2023-2", "CVE-2023-3"] and "expires_at" not in allowlist
    listed = harborlite.api("GET", "/projects", auth=harborlite.admin, params={"name": name})
    assert [ids(p["cve_allowlist"]) for p in listed.json()] == [["CVE-2023-2", "CVE-2023-3"]]

    # a Developer may not update the project, so not its allowlist either
    developer = harborlite.unique("dev")
    harborlite.create_user(developer, PASSWORD)
    harborlite.add_member(name, developer, 2)
    refused = harborlite.api(
        "PUT",
        f"/projects/{name}",
        auth=(developer, PASSWORD),
        json={"cve_allowlist": {"items": []}},
    )
    assert refused.status_code == 403, refused.text


def test_refused_project_allowlists_leave_nothing_half_done(harborlite: Harborlite) -> None:
    name = harborlite.unique("allowbad")
    bad = {"items": [{"cve_id": "CVE-9"}, {"cve_id": "CVE-9"}]}
    created = harborlite.api(
        "POST",
        "/projects",
        auth=harborlite.admin,
        json={"project_name": name, "cve_allowlist": bad},
    )
    assert created.status_code == 400, created.text
    assert "duplicate CVE ID in allowlist: CVE-9" in created.json()["errors"][0]["message"]
    assert harborlite.api("HEAD", f"/projects?project_name={name}").status_code == 404

    harborlite.create_project(name)
    refused = harborlite.api(
        "PUT",
        f"/projects/{name}",
        auth=harborlite.admin,
        json={"metadata": {"auto_scan": "true"}, "cve_allowlist": {"expires_at": 5}},
    )
    assert refused.status_code == 400, refused.text
    shown = harborlite.api("GET", f"/projects/{name}", auth=harborlite.admin).json()
    assert "auto_scan" not in shown["metadata"]  # the metadata of the refused body is not kept
    assert shown["cve_allowlist"]["items"] == []

    bad_severity = harborlite.api(
        "PUT",
        f"/projects/{name}",
        auth=harborlite.admin,
        json={"metadata": {"prevent_vul": "true", "severity": "extreme"}},
    )
    assert bad_severity.status_code == 400, bad_severity.text
    assert "severity must be one of" in bad_severity.json()["errors"][0]["message"]
