"""Copying an artifact between repositories through the registry, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.api.pushing import Pusher, _tgz, digest_of
from tests.api.test_artifacts import registry_status
from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"


def blob_status(server: Harborlite, repository: str, digest: str) -> int:
    token = server.token(f"repository:{repository}:pull", server.admin)
    with server.client() as client:
        response = client.head(
            f"/v2/{repository}/blobs/{digest}", headers={"Authorization": f"Bearer {token}"}
        )
    return response.status_code


def test_an_image_and_an_index_are_copied_with_their_tags(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    source, target = harborlite.unique("copysrc"), harborlite.unique("copydst")
    harborlite.create_project(source)
    harborlite.create_project(target)
    with Pusher(harborlite) as pusher:
        image = pusher.image(f"{source}/app", "v1")
        index = pusher.index(f"{source}/multi", "m1")
    layer = digest_of(_tgz({"hello.txt": f"hello {source}/app v1 amd64 ".encode()}))

    copied = harborlite.api(
        "POST",
        f"/projects/{target}/repositories/copies/artifacts",
        params={"from": f"{source}/app:v1"},
        auth=admin,
    )
    assert copied.status_code == 201, copied.text
    assert copied.headers["Location"] == (
        f"/api/v2.0/projects/{target}/repositories/copies/artifacts/{image.digest}"
    )
    (listed,) = harborlite.api(
        "GET", f"/projects/{target}/repositories/copies/artifacts", auth=admin
    ).json()
    assert listed["digest"] == image.digest and listed["type"] == "IMAGE"
    assert [t["name"] for t in listed["tags"]] == ["v1"]
    assert listed["extra_attrs"]["architecture"] == "amd64"
    assert listed["size"] == image.size
    assert registry_status(harborlite, f"{target}/copies", "v1") == 200
    assert blob_status(harborlite, f"{target}/copies", layer) == 200

    nested = harborlite.api(
        "POST",
        f"/projects/{target}/repositories/deep%252Fmulti/artifacts",
        params={"from": f"{source}/multi@{index.digest}"},
        auth=admin,
    )
    assert nested.status_code == 201, nested.text
    url = f"/projects/{target}/repositories/deep%252Fmulti/artifacts"
    (top,) = harborlite.api("GET", url, auth=admin).json()
    assert top["digest"] == index.digest and top["size"] == index.size
    assert [t["name"] for t in top["tags"]] == ["m1"]  # the source's tags come along
    assert all(ref["child_id"] > 0 for ref in top["references"])
    everything = harborlite.api("GET", url, auth=admin, params={"q": "base=*"})
    assert everything.headers["X-Total-Count"] == "3"
    for ref in top["references"]:
        assert registry_status(harborlite, f"{target}/deep/multi", ref["child_digest"]) == 200

    # copying again is harmless; the source is untouched
    again = harborlite.api(
        "POST",
        f"/projects/{target}/repositories/copies/artifacts",
        params={"from": f"{source}/app@{image.digest}"},
        auth=admin,
    )
    assert again.status_code == 201, again.text
    source_list = harborlite.api(
        "GET", f"/projects/{source}/repositories/app/artifacts", auth=admin
    )
    assert source_list.headers["X-Total-Count"] == "1"

    logs = harborlite.api(
        "GET",
        "/audit-logs",
        auth=admin,
        params={"q": f"operation=create,resource_type=artifact,resource=~{target}/"},
    ).json()
    assert {entry["resource"] for entry in logs} == {
        f"{target}/copies@{image.digest}",
        f"{target}/deep/multi@{index.digest}",
    }


def test_copy_refusals(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    private, target = harborlite.unique("copypriv"), harborlite.unique("copyto")
    harborlite.create_project(private)
    harborlite.create_project(target)
    developer, guest = harborlite.unique("cdev"), harborlite.unique("cguest")
    for user in (developer, guest):
        harborlite.create_user(user, PASSWORD)
    harborlite.add_member(target, developer, 2)
    harborlite.add_member(target, guest, 3)
    harborlite.add_member(private, guest, 3)
    with Pusher(harborlite) as pusher:
        pusher.image(f"{private}/app", "v1")
    url = f"/projects/{target}/repositories/c/artifacts"

    def post(source: str | None, auth: tuple[str, str] | None = admin, path: str = url) -> int:
        params = {"from": source} if source is not None else {}
        response = harborlite.api("POST", path, params=params, auth=auth)
        assert response.json()["errors"][0]["message"], response.text
        return response.status_code

    assert post(None) == 400
    for bad in ("app:v1", f"{private}/app", f"{private}/app@nodigest", f"{private}/App:v1"):
        assert post(bad) == 400, bad
    assert post(f"{private}/app:nosuch") == 404
    assert post(f"{private}/nosuch:v1") == 404
    assert post(f"nosuchproject{target}/app:v1") == 404
    assert post(f"{private}/app:v1", path="/projects/nosuchproject/repositories/c/artifacts") == 404
    # push on the destination and pull on the source are both needed
    assert post(f"{private}/app:v1", auth=(developer, PASSWORD)) == 403  # no pull on the source
    assert post(f"{private}/app:v1", auth=(guest, PASSWORD)) == 403  # no push on the target
    assert post(f"{private}/app:v1", auth=None) == 401
    listed = harborlite.api("GET", f"/projects/{target}/repositories", auth=admin).json()
    assert listed == []


def test_a_copy_that_fails_midway_leaves_nothing_behind(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    source, target = harborlite.unique("copyfail"), harborlite.unique("copyfaildst")
    harborlite.create_project(source)
    harborlite.create_project(target)
    with Pusher(harborlite) as pusher:
        index = pusher.index(f"{source}/multi", "m1")
    children = harborlite.api(
        "GET", f"/projects/{source}/repositories/multi/artifacts/m1", auth=admin
    ).json()["references"]
    # the second child's layer disappears from the source: its mount cannot succeed
    arm_layer = digest_of(_tgz({"hello.txt": f"hello {source}/multi None arm64 m1".encode()}))
    token = harborlite.token(f"repository:{source}/multi:pull,push,delete", admin)
    with harborlite.client() as client:
        gone = client.delete(
            f"/v2/{source}/multi/blobs/{arm_layer}", headers={"Authorization": f"Bearer {token}"}
        )
    assert gone.status_code == 202, gone.text

    failed = harborlite.api(
        "POST",
        f"/projects/{target}/repositories/copy/artifacts",
        params={"from": f"{source}/multi@{index.digest}"},
        auth=admin,
    )
    assert failed.status_code == 404, failed.text
    assert arm_layer in failed.json()["errors"][0]["message"]
    # nothing in the index, and the manifest already stored was deleted again
    assert harborlite.api("GET", f"/projects/{target}/repositories", auth=admin).json() == []
    for child in children:
        assert registry_status(harborlite, f"{target}/copy", child["child_digest"]) == 404
    assert registry_status(harborlite, f"{target}/copy", index.digest) == 404
