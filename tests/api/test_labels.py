"""Labels (global and per project) and labels on artifacts, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.api.pushing import Pusher
from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"


def label_id(response: object) -> int:
    location = response.headers["Location"]  # type: ignore[attr-defined]
    assert location.startswith("/api/v2.0/labels/")
    return int(location.rsplit("/", 1)[1])


def test_global_and_project_labels_are_created_listed_updated_and_deleted(
    harborlite: Harborlite,
) -> None:
    admin = harborlite.admin
    project = harborlite.unique("labels")
    project_id = harborlite.create_project(project)
    maintainer = harborlite.unique("lm")
    harborlite.create_user(maintainer, PASSWORD)
    harborlite.add_member(project, maintainer, 4)
    name = harborlite.unique("glob")

    created = harborlite.api(
        "POST", "/labels", auth=admin, json={"name": name, "scope": "g", "color": "#FF0000"}
    )
    assert created.status_code == 201, created.text
    global_id = label_id(created)
    again = harborlite.api("POST", "/labels", auth=admin, json={"name": name, "scope": "g"})
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "CONFLICT"
    # a maintainer may not make global labels, only labels of their project
    refused = harborlite.api(
        "POST", "/labels", auth=(maintainer, PASSWORD), json={"name": "x", "scope": "g"}
    )
    assert refused.status_code == 403
    mine = harborlite.api(
        "POST",
        "/labels",
        auth=(maintainer, PASSWORD),
        json={"name": name, "scope": "p", "project_id": project_id, "description": "d"},
    )
    assert mine.status_code == 201, mine.text  # same name, other scope: no conflict
    project_label = label_id(mine)

    for bad in (
        {"scope": "g"},
        {"name": "n", "scope": "x"},
        {"name": "n", "scope": "p"},
        {"name": "n" * 129, "scope": "g"},
        {"name": 5, "scope": "g"},
    ):
        response = harborlite.api("POST", "/labels", auth=admin, json=bad)
        assert response.status_code == 400, (bad, response.text)
    missing = harborlite.api(
        "POST", "/labels", auth=admin, json={"name": "n", "scope": "p", "project_id": 999999}
    )
    assert missing.status_code == 404

    listed = harborlite.api("GET", "/labels", auth=admin, params={"name": name, "scope": "g"})
    assert listed.status_code == 200
    assert [label["id"] for label in listed.json()] == [global_id]
    assert listed.json()[0]["color"] == "#FF0000" and listed.json()[0]["project_id"] == 0
    in_project = harborlite.api(
        "GET",
        "/labels",
        auth=(maintainer, PASSWORD),
        params={"scope": "p", "project_id": project_id},
    )
    assert in_project.headers["X-Total-Count"] == "1"
    assert in_project.json()[0]["scope"] == "p" and in_project.json()[0]["description"] == "d"
    assert harborlite.api("GET", "/labels", auth=admin, params={"scope": "p"}).status_code == 400
    assert harborlite.api("GET", "/labels", auth=admin, params={"scope": "z"}).status_code == 400
    assert harborlite.api("GET", "/labels").status_code == 401

    renamed = harborlite.api(
        "PUT",
        f"/labels/{project_label}",
        auth=(maintainer, PASSWORD),
        json={"name": name + "-r", "color": "#00FF00"},
    )
    assert renamed.status_code == 200, renamed.text
    fetched = harborlite.api("GET", f"/labels/{project_label}", auth=(maintainer, PASSWORD)).json()
    assert fetched["name"] == name + "-r" and fetched["color"] == "#00FF00"
    assert fetched["description"] == "d" and fetched["project_id"] == project_id
    assert (
        harborlite.api(
            "PUT", f"/labels/{global_id}", auth=(maintainer, PASSWORD), json={"name": "y"}
        ).status_code
        == 403
    )
    assert harborlite.api("GET", "/labels/999999", auth=admin).status_code == 404
    assert harborlite.api("GET", "/labels/abc", auth=admin).status_code == 400

    assert harborlite.api("DELETE", f"/labels/{project_label}", auth=admin).status_code == 200
    assert harborlite.api("GET", f"/labels/{project_label}", auth=admin).status_code == 404
    assert harborlite.api("DELETE", f"/labels/{global_id}", auth=admin).status_code == 200

    system = harborlite.api(
        "GET",
        "/users/current/permissions",
        params={"relative": "true"},
        auth=(maintainer, PASSWORD),
    )
    pairs = {(p["resource"], p["action"]) for p in system.json()}
    assert ("label", "read") in pairs and ("label", "create") not in pairs
    admin_pairs = harborlite.api("GET", "/users/current/permissions", auth=admin).json()
    assert {"resource": "/system/label", "action": "create"} in admin_pairs

    logs = harborlite.api(
        "GET", "/audit-logs", auth=admin, params={"q": f"resource_type=label,resource=~{name}"}
    ).json()
    assert sorted(entry["operation"] for entry in logs) == [
        "create",
        "create",
        "delete",
        "delete",
        "update",
    ]


def test_labels_on_artifacts_are_added_listed_filtered_and_removed(
    harborlite: Harborlite,
) -> None:
    admin = harborlite.admin
    project = harborlite.unique("artlabels")
    other = harborlite.unique("artlabelsother")
    project_id = harborlite.create_project(project)
    other_id = harborlite.create_project(other)
    with Pusher(harborlite) as pusher:
        first = pusher.image(f"{project}/app", "v1")
        second = pusher.image(f"{project}/app", "v2")

    def make(body: dict[str, object]) -> int:
        response = harborlite.api("POST", "/labels", auth=admin, json=body)
        assert response.status_code == 201, response.text
        return label_id(response)

    shared = make({"name": harborlite.unique("shared"), "scope": "g"})
    own = make({"name": "own", "scope": "p", "project_id": project_id})
    foreign = make({"name": "foreign", "scope": "p", "project_id": other_id})

    base = f"/projects/{project}/repositories/app/artifacts"
    for reference, label in (("v1", shared), ("v1", own), ("v2", own)):
        added = harborlite.api("POST", f"{base}/{reference}/labels", auth=admin, json={"id": label})
        assert added.status_code == 200, added.text
    twice = harborlite.api("POST", f"{base}/v1/labels", auth=admin, json={"id": own})
    assert twice.status_code == 409
    wrong_project = harborlite.api("POST", f"{base}/v1/labels", auth=admin, json={"id": foreign})
    assert wrong_project.status_code == 400
    unknown = harborlite.api("POST", f"{base}/v1/labels", auth=admin, json={"id": 999999})
    assert unknown.status_code == 404
    assert harborlite.api("POST", f"{base}/v1/labels", auth=admin, json={}).status_code == 400
    assert (
        harborlite.api("POST", f"{base}/nosuch/labels", auth=admin, json={"id": own}).status_code
        == 404
    )

    with_labels = harborlite.api(
        "GET", base, auth=admin, params={"with_label": "true", "sort": "push_time"}
    ).json()
    assert [[x["id"] for x in a["labels"]] for a in with_labels] == [[shared, own], [own]]
    one = harborlite.api("GET", f"{base}/v1", auth=admin, params={"with_label": "true"}).json()
    assert {x["name"] for x in one["labels"]} >= {"own"}

    both = harborlite.api("GET", base, auth=admin, params={"q": f"labels=({shared} {own})"})
    assert [a["digest"] for a in both.json()] == [first.digest]
    just_own = harborlite.api("GET", base, auth=admin, params={"q": f"labels=({own})"})
    assert {a["digest"] for a in just_own.json()} == {first.digest, second.digest}
    assert just_own.headers["X-Total-Count"] == "2"
    single = harborlite.api("GET", base, auth=admin, params={"q": f"labels={shared}"})
    assert [a["digest"] for a in single.json()] == [first.digest]
    for bad in ("labels={1 2}", "labels=(a)", "labels=~1"):
        assert harborlite.api("GET", base, auth=admin, params={"q": bad}).status_code == 400

    removed = harborlite.api("DELETE", f"{base}/v1/labels/{shared}", auth=admin)
    assert removed.status_code == 200, removed.text
    assert harborlite.api("DELETE", f"{base}/v1/labels/{shared}", auth=admin).status_code == 404
    # deleting a label takes it off every artifact
    assert harborlite.api("DELETE", f"/labels/{own}", auth=admin).status_code == 200
    after = harborlite.api("GET", base, auth=admin, params={"with_label": "true"}).json()
    assert all(a["labels"] == [] for a in after)

    logs = harborlite.api(
        "GET",
        "/audit-logs",
        auth=admin,
        params={"q": f"resource_type=artifact-label,resource=~{project}/app"},
    ).json()
    assert sorted(entry["operation"] for entry in logs) == ["create", "create", "create", "delete"]
