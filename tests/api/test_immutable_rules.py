"""Tag immutability through the REST API and /v2/, on SQLite and PostgreSQL: the rules' life,
every refusal of the rules API, and what an enabled rule refuses (pushes that move a tag,
deletes by /v2/ and by the API) with Harbor's 412."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.pushing import OCI_MANIFEST, Pushed, Pusher
from tests.harness import Harborlite

pytestmark = pytest.mark.both_databases

PASSWORD = "Passw0rd!x"


def rule(tags: str = "v*", repositories: str = "**", **changes: Any) -> dict[str, Any]:
    return {
        "action": "immutable",
        "template": "immutable_template",
        "priority": 0,
        "disabled": False,
        "params": {},
        "scope_selectors": {
            "repository": [
                {"kind": "doublestar", "decoration": "repoMatches", "pattern": repositories}
            ]
        },
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": tags}],
        **changes,
    }


def created_id(response: httpx.Response, path: str) -> int:
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location.startswith(f"/api/v2.0{path}/"), location
    return int(location.rsplit("/", 1)[1])


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    (entry,) = response.json()["errors"]
    return response.status_code, entry["code"], entry["message"]


def test_rules_are_created_listed_updated_and_deleted(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    project = harborlite.unique("immu")
    project_id = harborlite.create_project(project)
    path = f"/projects/{project}/immutabletagrules"

    first = created_id(harborlite.api("POST", path, auth=admin, json=rule()), path)
    by_id = f"/projects/{project_id}/immutabletagrules"
    second = created_id(
        harborlite.api("POST", by_id, auth=admin, json=rule("1.*", "team/**", disabled=True)),
        by_id,
    )
    third = created_id(harborlite.api("POST", path, auth=admin, json=rule("release-*")), path)

    listed = harborlite.api("GET", path, auth=admin)
    assert listed.status_code == 200, listed.text
    assert listed.headers["X-Total-Count"] == "3"
    assert [r["id"] for r in listed.json()] == [first, second, third]
    assert listed.json()[1] == {
        "id": second,
        "priority": 0,
        "disabled": True,  # beyond Harbor, which always creates a rule enabled
        "action": "immutable",
        "template": "immutable_template",
        "params": {},
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "1.*"}],
        "scope_selectors": {
            "repository": [
                {"kind": "doublestar", "decoration": "repoMatches", "pattern": "team/**"}
            ]
        },
    }
    paged = harborlite.api("GET", path, auth=admin, params={"page": 2, "page_size": 2})
    assert [r["id"] for r in paged.json()] == [third]
    assert 'rel="prev"' in paged.headers["Link"]
    enabled = harborlite.api("GET", path, auth=admin, params={"q": "disabled=false"})
    assert [r["id"] for r in enabled.json()] == [first, third]
    newest = harborlite.api("GET", path, auth=admin, params={"sort": "-id", "page_size": 1})
    assert [r["id"] for r in newest.json()] == [third]

    changed = harborlite.api(
        "PUT", f"{path}/{second}", auth=admin, json={**rule("2.*"), "id": second}
    )
    assert changed.status_code == 200, changed.text
    toggled = harborlite.api(
        "PUT", f"{path}/{third}", auth=admin, json=rule("rel-*", disabled=True)
    )
    assert toggled.status_code == 200, toggled.text  # the flag and the pattern, both applied
    after = {r["id"]: r for r in harborlite.api("GET", path, auth=admin).json()}
    assert after[second]["disabled"] is False
    assert after[second]["tag_selectors"][0]["pattern"] == "2.*"
    assert after[third]["disabled"] is True
    assert after[third]["tag_selectors"][0]["pattern"] == "rel-*"

    assert harborlite.api("DELETE", f"{path}/{third}", auth=admin).status_code == 200
    again = harborlite.api("DELETE", f"{path}/{third}", auth=admin)
    assert error_of(again)[:2] == (404, "NOT_FOUND")
    assert harborlite.api("GET", path, auth=admin).headers["X-Total-Count"] == "2"

    logs = harborlite.api(
        "GET",
        f"/projects/{project}/logs",
        auth=admin,
        params={"q": "resource_type=immutable_rule", "page_size": 100},
    ).json()
    assert sorted(e["operation"] for e in logs) == [
        "create",
        "create",
        "create",
        "delete",
        "update",
        "update",
    ]


def test_every_refusal_of_the_rules_api(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    project = harborlite.unique("immuno")
    other = harborlite.unique("immuother")
    harborlite.create_project(project)
    harborlite.create_project(other)
    maintainer, developer, outsider = (harborlite.unique(n) for n in ("im", "id", "io"))
    for user, role in ((maintainer, 4), (developer, 2), (outsider, 0)):
        harborlite.create_user(user, PASSWORD)
        if role:
            harborlite.add_member(project, user, role)
    path = f"/projects/{project}/immutabletagrules"

    # a maintainer manages the rules; a developer may not even list them
    mine = created_id(
        harborlite.api("POST", path, auth=(maintainer, PASSWORD), json=rule("m*")), path
    )
    assert harborlite.api("GET", path, auth=(maintainer, PASSWORD)).status_code == 200
    for method, where, body in (
        ("GET", path, None),
        ("POST", path, rule("d*")),
        ("PUT", f"{path}/{mine}", rule("d*")),
        ("DELETE", f"{path}/{mine}", None),
    ):
        status, code, message = error_of(
            harborlite.api(method, where, auth=(developer, PASSWORD), json=body)
        )
        assert (status, code) == (403, "FORBIDDEN"), (method, message)
        assert "immutable-tag" in message, message
        assert error_of(harborlite.api(method, where, json=body))[:2] == (401, "UNAUTHORIZED")
        # an outsider is told nothing about the private project
        outside = harborlite.api(method, where, auth=(outsider, PASSWORD), json=body)
        assert outside.status_code in (403, 404), outside.text
    missing = harborlite.api("GET", "/projects/nosuchproject-x/immutabletagrules", auth=admin)
    assert error_of(missing)[:2] == (404, "NOT_FOUND")

    # the rule must belong to the project of the path
    elsewhere = created_id(
        harborlite.api("POST", f"/projects/{other}/immutabletagrules", auth=admin, json=rule()),
        f"/projects/{other}/immutabletagrules",
    )
    for method in ("PUT", "DELETE"):
        foreign = harborlite.api(method, f"{path}/{elsewhere}", auth=admin, json=rule("x"))
        assert error_of(foreign)[:2] == (404, "NOT_FOUND")
        unknown = harborlite.api(method, f"{path}/99999999", auth=admin, json=rule("x"))
        assert error_of(unknown)[:2] == (404, "NOT_FOUND")
        huge = harborlite.api(method, f"{path}/{10**20}", auth=admin, json=rule("x"))
        assert error_of(huge)[:2] == (404, "NOT_FOUND")
        word = harborlite.api(method, f"{path}/abc", auth=admin, json=rule("x"))
        assert error_of(word)[:2] == (400, "BAD_REQUEST")
    mismatch = harborlite.api("PUT", f"{path}/{mine}", auth=admin, json={**rule(), "id": mine + 1})
    assert error_of(mismatch) == (
        400,
        "BAD_REQUEST",
        "the immutable_rule_id doesn't match the id in the payload body of ImmutableRule",
    )

    # the same rule twice: Harbor's 409, on create and on update
    duplicate = harborlite.api("POST", path, auth=admin, json=rule("m*", disabled=True))
    assert error_of(duplicate) == (409, "CONFLICT", "immutable rule already exists")
    second = created_id(harborlite.api("POST", path, auth=admin, json=rule("n*")), path)
    into_first = harborlite.api("PUT", f"{path}/{second}", auth=admin, json=rule("m*"))
    assert error_of(into_first)[:2] == (409, "CONFLICT")

    # bodies: each wrong field is named
    repo = {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}
    for body, words in (
        (None, "request body is empty"),
        ([], "must be a JSON object"),
        ({}, "scope_selectors is required"),
        (rule(action="retain"), "action must be 'immutable'"),
        (rule(template="latestPushedK"), "template must be"),
        (rule(disabled="no"), "disabled must be a boolean"),
        (rule(priority="high"), "priority must be a whole number"),
        (rule(params=[1]), "params must be an object"),
        (rule(tag_selectors=[]), "tag_selectors is required"),
        (rule(scope_selectors={"namespace": [repo]}), "scope_selectors is required"),
        (
            rule(scope_selectors={"repository": [repo], "namespace": [repo]}),
            "only 'repository' is supported",
        ),
        (
            rule(tag_selectors=[{"kind": "regex", "decoration": "matches", "pattern": "v.*"}]),
            "tag_selectors[0].kind must be doublestar",
        ),
        (
            rule(tag_selectors=[{"kind": "doublestar", "decoration": "with", "pattern": "v"}]),
            "tag_selectors[0].decoration must be matches or excludes",
        ),
        (
            rule(scope_selectors={"repository": [{**repo, "decoration": "matches"}]}),
            "must be repoMatches or repoExcludes",
        ),
        (rule(""), "tag_selectors[0].pattern is required"),
        (rule("v" * 257), "at most 256 characters"),
        (rule("{1..5000}"), "is not a valid pattern"),
    ):
        kwargs: dict[str, Any] = {"content": b""} if body is None else {"json": body}
        for method, where in (("POST", path), ("PUT", f"{path}/{mine}")):
            answer = harborlite.api(method, where, auth=admin, **kwargs)
            status, code, message = error_of(answer)
            assert (status, code) == (400, "BAD_REQUEST"), (body, answer.text)
            assert words in message, (words, message)
    listing = harborlite.api("GET", path, auth=admin, params={"q": "pattern=x"})
    assert error_of(listing)[:2] == (400, "BAD_REQUEST")
    assert harborlite.api("GET", path, auth=admin, params={"page_size": 101}).status_code == 400

    # at most 15 rules per project (Harbor's documented limit)
    for n in range(13):
        created_id(harborlite.api("POST", path, auth=admin, json=rule(f"r{n}-*")), path)
    assert harborlite.api("GET", path, auth=admin).headers["X-Total-Count"] == "15"
    past = harborlite.api("POST", path, auth=admin, json=rule("sixteen"))
    assert error_of(past) == (
        400,
        "BAD_REQUEST",
        "only 15 immutable tag rules are allowed per project",
    )


def put_manifest(pusher: Pusher, repository: str, reference: str, body: bytes) -> httpx.Response:
    return pusher.client.put(
        f"/v2/{repository}/manifests/{reference}",
        content=body,
        headers={**pusher._headers(repository), "Content-Type": OCI_MANIFEST},
    )


def delete_manifest(pusher: Pusher, repository: str, digest: str) -> httpx.Response:
    token = pusher.server.token(f"repository:{repository}:pull,push,delete", pusher.auth)
    return pusher.client.delete(
        f"/v2/{repository}/manifests/{digest}", headers={"Authorization": f"Bearer {token}"}
    )


def registry_error(response: httpx.Response) -> tuple[int, str, str]:
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    return error_of(response)


def test_an_immutable_tag_is_pushed_once_and_never_moved_or_deleted(
    harborlite: Harborlite,
) -> None:
    admin = harborlite.admin
    project = harborlite.unique("frozen")
    harborlite.create_project(project)
    repository = f"{project}/team/app"
    path = f"/projects/{project}/immutabletagrules"
    api_repo = f"/projects/{project}/repositories/team%252Fapp"
    refused = "Failed to process request due to 'team/app:{}' configured as immutable."

    with Pusher(harborlite) as pusher:
        v1 = pusher.image(repository, "v1", seed="a")
        pusher.image(repository, "latest", seed="b")
        other: Pushed = pusher.image(repository, None, seed="c")  # by digest, no tag
        rule_id = created_id(
            harborlite.api("POST", path, auth=admin, json=rule("v*", "team/**")), path
        )

        # another manifest under the immutable tag: refused before the registry sees it
        moved = put_manifest(pusher, repository, "v1", other.manifest)
        assert registry_error(moved) == (412, "PRECONDITION", refused.format("v1"))
        # the very same manifest again: accepted (a retried CI job)
        same = put_manifest(pusher, repository, "v1", v1.manifest)
        assert same.status_code == 201, same.text
        assert same.headers["Docker-Content-Digest"] == v1.digest
        # a new tag the rule selects is pushed once, then is immutable too
        assert put_manifest(pusher, repository, "v2", other.manifest).status_code == 201
        twice = put_manifest(pusher, repository, "v2", v1.manifest)
        assert registry_error(twice)[:2] == (412, "PRECONDITION")
        # tags the rule does not select move freely
        assert put_manifest(pusher, repository, "latest", other.manifest).status_code == 201
        outside = f"{project}/elsewhere"
        pusher.image(outside, "v1", seed="d")
        elsewhere = pusher.image(outside, None, seed="e")
        assert put_manifest(pusher, outside, "v1", elsewhere.manifest).status_code == 201

        # deletes: by /v2/, by the API's tag and artifact endpoints
        assert registry_error(delete_manifest(pusher, repository, v1.digest)) == (
            412,
            "PRECONDITION",
            refused.format("v1"),
        )
        tag_delete = harborlite.api(
            "DELETE", f"{api_repo}/artifacts/{v1.digest}/tags/v1", auth=admin
        )
        assert error_of(tag_delete) == (412, "PRECONDITION", refused.format("v1"))
        artifact_delete = harborlite.api("DELETE", f"{api_repo}/artifacts/v1", auth=admin)
        assert error_of(artifact_delete) == (412, "PRECONDITION", refused.format("v1"))
        tags = harborlite.api("GET", f"{api_repo}/artifacts/{v1.digest}/tags", auth=admin).json()
        assert [t["name"] for t in tags] == ["v1"]  # nothing changed

        # disabled, the rule lets everything through at once (this process's change)
        disabled = harborlite.api(
            "PUT", f"{path}/{rule_id}", auth=admin, json=rule("v*", "team/**", disabled=True)
        )
        assert disabled.status_code == 200, disabled.text
        assert put_manifest(pusher, repository, "v2", v1.manifest).status_code == 201
        gone = harborlite.api("DELETE", f"{api_repo}/artifacts/{v1.digest}/tags/v1", auth=admin)
        assert gone.status_code == 200, gone.text
        deleted = delete_manifest(pusher, repository, v1.digest)  # v2 is on it now
        assert deleted.status_code == 202, deleted.text
