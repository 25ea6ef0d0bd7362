"""Project quotas through the REST API and ``/v2/``, on SQLite and PostgreSQL: Harbor's
``/quotas``, ``storage_limit``, the default (``/configurations``), the summary, every refusal
of the API and of a push, what counts, and harborlite's uploads list and recount."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import httpx
import pytest

from tests.api.pushing import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Pusher, digest_of
from tests.harness import Harborlite

pytestmark = pytest.mark.both_databases

PASSWORD = "Passw0rd!x"
KIB = 1024


def overflow(adding: str, used: str, limit: str) -> str:
    return (
        f"adding {adding} of storage resource, which when updated to current usage of {used} "
        f"will exceed the configured upper limit of {limit}."
    )


# --- a client that pushes step by step -------------------------------------------------------


@dataclass
class Registry:
    """``/v2/`` as docker drives it (POST, PATCH with the bytes, PUT with the digest)."""

    server: Harborlite
    repository: str
    auth: tuple[str, str]

    def __post_init__(self) -> None:
        token = self.server.token(f"repository:{self.repository}:pull,push", self.auth)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.client = httpx.Client(base_url=self.server.url, timeout=30, headers=self.headers)

    def start(self, query: str = "") -> httpx.Response:
        return self.client.post(f"/v2/{self.repository}/blobs/uploads/{query}")

    def send(self, location: str, data: bytes) -> httpx.Response:
        return self.client.patch(
            location, content=data, headers={"Content-Type": "application/octet-stream"}
        )

    def finish(self, location: str, digest: str, data: bytes = b"") -> httpx.Response:
        separator = "&" if "?" in location else "?"
        return self.client.put(f"{location}{separator}digest={digest}", content=data)

    def blob(self, data: bytes) -> httpx.Response:
        """A whole upload, docker's way; the answer of the last request."""
        started = self.start()
        if started.status_code != 202:
            return started
        sent = self.send(started.headers["Location"], data)
        assert sent.status_code == 202, sent.text
        return self.finish(sent.headers["Location"], digest_of(data))

    def manifest(self, reference: str, body: bytes) -> httpx.Response:
        return self.client.put(
            f"/v2/{self.repository}/manifests/{reference}",
            content=body,
            headers={"Content-Type": OCI_MANIFEST},
        )

    def image(self, tag: str, layers: list[bytes], config: bytes | None = None) -> httpx.Response:
        config = config or json.dumps({"architecture": "amd64", "os": "linux", "t": tag}).encode()
        for data in [config, *layers]:
            answer = self.blob(data)
            if answer.status_code != 201:
                return answer
        return self.manifest(tag, image_manifest(config, layers))

    def close(self) -> None:
        self.client.close()


def image_manifest(config: bytes, layers: list[bytes]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": digest_of(x), "size": len(x)} for x in layers
            ],
        }
    ).encode()


def quota_of(server: Harborlite, project_id: int) -> dict[str, object]:
    listed = server.api(
        "GET",
        "/quotas",
        auth=server.admin,
        params={"reference": "project", "reference_id": project_id},
    )
    assert listed.status_code == 200, listed.text
    (quota,) = listed.json()
    assert isinstance(quota, dict)
    return quota


def used(server: Harborlite, project: str) -> int:
    summary = server.api("GET", f"/projects/{project}/summary", auth=server.admin).json()
    return int(summary["quota"]["used"]["storage"])


def denied(response: httpx.Response) -> str:
    assert response.status_code == 403, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == "DENIED", error
    return str(error["message"])


def project_with(server: Harborlite, prefix: str, limit: int | None) -> tuple[str, int]:
    name = server.unique(prefix)
    body: dict[str, object] = {"project_name": name}
    if limit is not None:
        body["storage_limit"] = limit
    created = server.api("POST", "/projects", auth=server.admin, json=body)
    assert created.status_code == 201, created.text
    return name, int(created.headers["Location"].rsplit("/", 1)[1])


# --- the API -------------------------------------------------------------------------------


def test_quotas_are_listed_read_and_changed_by_system_admins(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    name, project_id = project_with(harborlite, "qapi", 10 * 1024 * KIB)
    user = harborlite.unique("quser")
    harborlite.create_user(user, PASSWORD)
    harborlite.add_member(name, user, 1)  # even its ProjectAdmin only reads it in the summary

    quota = quota_of(harborlite, project_id)
    assert quota["ref"] == {"id": project_id, "name": name, "owner_name": "admin"}
    assert quota["hard"] == {"storage": 10 * 1024 * KIB} and quota["used"] == {"storage": 0}
    assert set(quota) == {"id", "ref", "creation_time", "update_time", "hard", "used"}
    path = f"/quotas/{quota['id']}"
    assert harborlite.api("GET", path, auth=admin).json() == quota

    everything = harborlite.api("GET", "/quotas", auth=admin, params={"page_size": 100})
    assert int(everything.headers["X-Total-Count"]) >= 2
    for params in ({"reference": "robot"}, {"reference_id": "abc"}, {"reference_id": "999999"}):
        none = harborlite.api("GET", "/quotas", auth=admin, params=params)
        assert none.status_code == 200 and none.json() == [], params
        assert none.headers["X-Total-Count"] == "0"
    for sort in ("hard.storage", "-hard.storage", "used.storage", "-used.storage"):
        page = harborlite.api("GET", "/quotas", auth=admin, params={"sort": sort, "page_size": 100})
        values = [q[sort.lstrip("-").split(".")[0]]["storage"] for q in page.json()]
        assert values == sorted(values, reverse=sort.startswith("-")), sort
    paged = harborlite.api("GET", "/quotas", auth=admin, params={"page_size": 1, "page": 2})
    assert len(paged.json()) == 1 and 'rel="prev"' in paged.headers["Link"]

    for refused_path, params, status in [
        ("/quotas", {"sort": "name"}, 400),
        ("/quotas", {"page_size": "101"}, 400),
        ("/quotas/999999", {}, 404),
        ("/quotas/abc", {}, 400),
    ]:
        answer = harborlite.api("GET", refused_path, auth=admin, params=params)
        assert answer.status_code == status, (refused_path, answer.text)
    for who, status in [(None, 401), ((user, PASSWORD), 403)]:
        assert harborlite.api("GET", "/quotas", auth=who).status_code == status
        assert harborlite.api("GET", path, auth=who).status_code == status
        put = harborlite.api("PUT", path, auth=who, json={"hard": {"storage": -1}})
        assert put.status_code == status

    for body, message in [
        (None, "hard required in body"),
        ({}, "hard required in body"),
        ({"hard": {}}, "hard required in body"),
        ({"hard": 5}, "hard required in body"),
        ({"hard": {"count": 1}}, "resource count not support"),
        ({"hard": {"storage": 0}}, "invalid value for resource storage"),
        ({"hard": {"storage": -2}}, "invalid value for resource storage"),
        ({"hard": {"storage": 1024**5 + 1}}, "at most 1125899906842624 bytes"),
        ({"hard": {"storage": "10"}}, "whole number of bytes"),
        ({"hard": {"storage": True}}, "whole number of bytes"),
    ]:
        kwargs = {} if body is None else {"json": body}
        answer = harborlite.api("PUT", path, auth=admin, **kwargs)
        assert answer.status_code == 400, (body, answer.text)
        assert message in answer.json()["errors"][0]["message"], (body, answer.text)
    missing = harborlite.api("PUT", "/quotas/999999", auth=admin, json={"hard": {"storage": 5}})
    assert missing.status_code == 404

    assert (
        harborlite.api("PUT", path, auth=admin, json={"hard": {"storage": -1}}).status_code == 200
    )
    assert harborlite.api("GET", path, auth=admin).json()["hard"] == {"storage": -1}
    logs = harborlite.api("GET", f"/projects/{name}/logs", auth=admin).json()
    assert any(e["resource_type"] == "quota" and e["operation"] == "update" for e in logs)

    summary = harborlite.api("GET", f"/projects/{name}/summary", auth=(user, PASSWORD)).json()
    assert summary["quota"] == {"hard": {"storage": -1}, "used": {"storage": 0}}


def test_storage_limit_on_create_and_the_system_default(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    user = harborlite.unique("qcreator")
    harborlite.create_user(user, PASSWORD)
    before = harborlite.api("GET", "/configurations", auth=admin)
    assert before.status_code == 200
    assert before.json()["quota_per_project_enable"] == {"value": True, "editable": False}
    default = before.json()["storage_per_project"]["value"]
    try:
        assert (
            harborlite.api(
                "PUT", "/configurations", auth=admin, json={"storage_per_project": 7 * KIB}
            ).status_code
            == 200
        )
        assert harborlite.api("GET", "/configurations", auth=admin).json()[
            "storage_per_project"
        ] == {"value": 7 * KIB, "editable": True}
        _, absent = project_with(harborlite, "qdef", None)
        _, zero = project_with(harborlite, "qzero", 0)
        _, chosen = project_with(harborlite, "qchosen", 3 * KIB)
        _, unlimited = project_with(harborlite, "qunl", -1)
        assert quota_of(harborlite, absent)["hard"] == {"storage": 7 * KIB}
        assert quota_of(harborlite, zero)["hard"] == {"storage": 7 * KIB}
        assert quota_of(harborlite, chosen)["hard"] == {"storage": 3 * KIB}
        assert quota_of(harborlite, unlimited)["hard"] == {"storage": -1}
        # a user's storage_limit is not theirs to choose (Harbor): the default applies
        mine = harborlite.unique("qmine")
        created = harborlite.api(
            "POST",
            "/projects",
            auth=(user, PASSWORD),
            json={"project_name": mine, "storage_limit": 1024**4},
        )
        assert created.status_code == 201, created.text
        mine_id = int(created.headers["Location"].rsplit("/", 1)[1])
        assert quota_of(harborlite, mine_id)["hard"] == {"storage": 7 * KIB}

        for bad in (-5, 1024**5 + 1, "1", True, 1.5):
            name = harborlite.unique("qbad")
            answer = harborlite.api(
                "POST", "/projects", auth=admin, json={"project_name": name, "storage_limit": bad}
            )
            assert answer.status_code == 400, (bad, answer.text)
            assert (
                harborlite.api(
                    "HEAD", "/projects", params={"project_name": name}, auth=admin
                ).status_code
                == 404
            )  # nothing created
        for body in (
            {"storage_per_project": 0},
            {"storage_per_project": "x"},
            {"auth_mode": "ldap_auth"},
            {"quota_per_project_enable": False},
        ):
            answer = harborlite.api("PUT", "/configurations", auth=admin, json=body)
            assert answer.status_code == 400, (body, answer.text)
        assert harborlite.api("PUT", "/configurations", auth=admin).status_code == 400
        for who, status in [(None, 401), ((user, PASSWORD), 403)]:
            assert harborlite.api("GET", "/configurations", auth=who).status_code == status
            answer = harborlite.api(
                "PUT", "/configurations", auth=who, json={"storage_per_project": -1}
            )
            assert answer.status_code == status
    finally:
        harborlite.api("PUT", "/configurations", auth=admin, json={"storage_per_project": default})


# --- pushes --------------------------------------------------------------------------------


def test_an_upload_past_the_quota_is_refused_with_harbors_answer(harborlite: Harborlite) -> None:
    name, project_id = project_with(harborlite, "qpush", 10 * KIB)
    registry = Registry(harborlite, f"{name}/app", harborlite.admin)
    try:
        small = os.urandom(4 * KIB)
        assert registry.blob(small).status_code == 201
        assert used(harborlite, name) == 4 * KIB
        big = os.urandom(20 * KIB)
        # docker's way: the bytes went with a PATCH, the PUT completing the upload is refused
        assert denied(registry.blob(big)) == overflow("20.0 KiB", "4.0 KiB", "10.0 KiB")
        # in one PUT (the body with the digest)
        started = registry.start()
        answer = registry.finish(started.headers["Location"], digest_of(big), big)
        assert denied(answer) == overflow("20.0 KiB", "4.0 KiB", "10.0 KiB")
        # in one POST with the digest
        monolithic = registry.client.post(
            f"/v2/{name}/app/blobs/uploads/?digest={digest_of(big)}",
            content=big,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert denied(monolithic) == overflow("20.0 KiB", "4.0 KiB", "10.0 KiB")
        assert used(harborlite, name) == 4 * KIB  # the refused pushes left it where it was
        # the registry never stored it
        head = registry.client.head(f"/v2/{name}/app/blobs/{digest_of(big)}")
        assert head.status_code == 404
        # what fits still goes, up to the limit exactly
        assert registry.blob(os.urandom(6 * KIB)).status_code == 201
        assert used(harborlite, name) == 10 * KIB
        assert quota_of(harborlite, project_id)["used"] == {"storage": 10 * KIB}
        # the blob the project holds already costs nothing
        assert registry.blob(small).status_code == 201
    finally:
        registry.close()


def test_a_project_over_its_quota_is_refused_before_any_byte(harborlite: Harborlite) -> None:
    name, project_id = project_with(harborlite, "qover", None)
    registry = Registry(harborlite, f"{name}/app", harborlite.admin)
    try:
        assert registry.blob(os.urandom(3 * KIB)).status_code == 201
        quota = quota_of(harborlite, project_id)
        changed = harborlite.api(
            "PUT", f"/quotas/{quota['id']}", auth=harborlite.admin, json={"hard": {"storage": KIB}}
        )
        assert changed.status_code == 200
        answer = registry.start()
        assert denied(answer) == (
            "subtracting 0 B of storage resource, which when updated to current usage of "
            "3.0 KiB will exceed the configured upper limit of 1.0 KiB."
        )
        assert "Location" not in answer.headers  # no upload began
        uploads = harborlite.api("GET", f"/projects/{name}/uploads", auth=harborlite.admin)
        assert uploads.json()["uploads"] == []
    finally:
        registry.close()


def test_a_mount_and_a_manifest_past_the_quota_are_refused(harborlite: Harborlite) -> None:
    source, _ = project_with(harborlite, "qsrc", None)
    target, _ = project_with(harborlite, "qdst", 8 * KIB)
    layer = os.urandom(6 * KIB)
    origin = Registry(harborlite, f"{source}/app", harborlite.admin)
    token = harborlite.token(
        [f"repository:{target}/app:pull,push", f"repository:{source}/app:pull"], harborlite.admin
    )
    headers = {"Authorization": f"Bearer {token}"}
    try:
        assert origin.image("v1", [layer]).status_code == 201
        with httpx.Client(base_url=harborlite.url, timeout=30, headers=headers) as client:
            mount = f"/v2/{target}/app/blobs/uploads/?mount={digest_of(layer)}&from={source}/app"
            assert client.post(mount).status_code == 201  # 6 KiB of 8: it fits
            assert used(harborlite, target) == 6 * KIB
            other = os.urandom(5 * KIB)
            assert origin.blob(other).status_code == 201
            refused = client.post(
                f"/v2/{target}/app/blobs/uploads/?mount={digest_of(other)}&from={source}/app"
            )
            assert denied(refused) == overflow("5.0 KiB", "6.0 KiB", "8.0 KiB")
            assert used(harborlite, target) == 6 * KIB
        # a manifest naming a blob the project does not hold: the blob counts, and is refused
        registry = Registry(harborlite, f"{target}/app", harborlite.admin)
        try:
            config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
            assert registry.blob(config).status_code == 201
            body = image_manifest(config, [layer, other])
            answer = registry.manifest("v1", body)
            assert denied(answer) == overflow(
                f"{(5 * KIB + len(body)) / KIB:.1f} KiB",
                f"{(6 * KIB + len(config)) / KIB:.1f} KiB",
                "8.0 KiB",
            )
            assert used(harborlite, target) == 6 * KIB + len(config)
            listed = harborlite.api(
                "GET", f"/projects/{target}/repositories/app/artifacts", auth=harborlite.admin
            )
            assert listed.json() == [] or listed.status_code == 404  # the registry never saw it
            fits = image_manifest(config, [layer])
            assert registry.manifest("v1", fits).status_code == 201
            assert used(harborlite, target) == 6 * KIB + len(config) + len(fits)
        finally:
            registry.close()
    finally:
        origin.close()


def test_a_shared_layer_counts_once_per_project_and_deleting_frees_it(
    harborlite: Harborlite,
) -> None:
    one, _ = project_with(harborlite, "qshare", None)
    two, _ = project_with(harborlite, "qshare", None)
    base, top_a, top_b = os.urandom(9 * KIB), os.urandom(KIB), os.urandom(2 * KIB)
    sizes: dict[str, int] = {}
    for project in (one, two):
        for repository, top in (("a", top_a), ("b", top_b)):
            registry = Registry(harborlite, f"{project}/{repository}", harborlite.admin)
            try:
                config = json.dumps({"os": "linux", "repo": repository}).encode()
                assert registry.image("v1", [base, top], config).status_code == 201
                sizes[repository] = len(config) + len(image_manifest(config, [base, top]))
            finally:
                registry.close()
    expected = len(base) + len(top_a) + len(top_b) + sizes["a"] + sizes["b"]
    assert used(harborlite, one) == expected  # the base layer once, though two images name it
    assert used(harborlite, two) == expected  # and in the second project too
    deleted = harborlite.api(
        "DELETE", f"/projects/{one}/repositories/a/artifacts/v1", auth=harborlite.admin
    )
    assert deleted.status_code == 200, deleted.text
    # what b still names stays; a's own layer, config and manifest go
    assert used(harborlite, one) == len(base) + len(top_b) + sizes["b"]
    assert used(harborlite, two) == expected
    removed = harborlite.api("DELETE", f"/projects/{one}/repositories/b", auth=harborlite.admin)
    assert removed.status_code == 200, removed.text
    assert used(harborlite, one) == 0


def test_deleting_through_v2_frees_the_quota(harborlite: Harborlite) -> None:
    name, _ = project_with(harborlite, "qv2del", None)
    with Pusher(harborlite) as pusher:
        image = pusher.image(f"{name}/app", "v1")
    assert used(harborlite, name) == image.size
    token = harborlite.token(f"repository:{name}/app:delete", harborlite.admin)
    with harborlite.client() as client:
        answer = client.delete(
            f"/v2/{name}/app/manifests/{image.digest}", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 202, answer.text
    assert used(harborlite, name) == 0


# --- uploads and recount -------------------------------------------------------------------


def test_unfinished_uploads_are_listed_and_do_not_count(harborlite: Harborlite) -> None:
    name, _ = project_with(harborlite, "qup", None)
    guest = harborlite.unique("qguest")
    harborlite.create_user(guest, PASSWORD)
    harborlite.add_member(name, guest, 3)
    registry = Registry(harborlite, f"{name}/half/done", harborlite.admin)
    try:
        started = registry.start()
        part = os.urandom(3000)
        assert registry.send(started.headers["Location"], part).status_code == 202
        orphan = os.urandom(2000)  # completed, but no manifest names it
        assert registry.blob(orphan).status_code == 201
    finally:
        registry.close()
    answer = harborlite.api("GET", f"/projects/{name}/uploads", auth=harborlite.admin)
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert listed["storage_readable"] is True and listed["window_minutes"] == 120
    (upload,) = listed["uploads"]
    assert upload["repository"] == f"{name}/half/done" and upload["size"] == 3000
    assert upload["abandoned"] is False and upload["counted"] is False
    assert upload["id"] in started.headers["Location"]
    (blob,) = listed["blobs"]
    assert blob["digest"] == digest_of(orphan) and blob["size"] == 2000
    assert blob["counted"] is True and blob["abandoned"] is False  # within the window
    assert used(harborlite, name) == 2000  # the half-finished one does not count
    assert (
        harborlite.api("GET", f"/projects/{name}/uploads", auth=(guest, PASSWORD)).status_code
        == 403
    )
    assert harborlite.api("GET", f"/projects/{name}/uploads").status_code == 401
    assert (
        harborlite.api("GET", "/projects/nosuch/uploads", auth=harborlite.admin).status_code == 404
    )


def test_a_recount_counts_what_the_registry_holds(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    source, _ = project_with(harborlite, "qrcsrc", None)
    target, target_id = project_with(harborlite, "qrcdst", None)
    with Pusher(harborlite) as pusher:
        image = pusher.image(f"{source}/app", "v1")
    # a copy through the API goes registry to registry: the push path never saw it
    copied = harborlite.api(
        "POST",
        f"/projects/{target}/repositories/copies/artifacts",
        params={"from": f"{source}/app:v1"},
        auth=admin,
    )
    assert copied.status_code == 201, copied.text
    quota_id = quota_of(harborlite, target_id)["id"]
    user = harborlite.unique("qrcuser")
    harborlite.create_user(user, PASSWORD)
    for who, status in [(None, 401), ((user, PASSWORD), 403)]:
        assert harborlite.api("POST", f"/quotas/{quota_id}/recount", auth=who).status_code == status
    assert harborlite.api("POST", "/quotas/999999/recount", auth=admin).status_code == 404
    answer = harborlite.api("POST", f"/quotas/{quota_id}/recount", auth=admin)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["after"] == {"storage": image.size}
    assert result["manifests"] == 1 and result["blobs"] == 2 and result["unreadable"] == []
    assert result["quota"]["used"] == {"storage": image.size}
    assert used(harborlite, target) == image.size
    again = harborlite.api("POST", f"/quotas/{quota_id}/recount", auth=admin).json()
    assert again["before"] == again["after"] == {"storage": image.size}
    assert used(harborlite, source) == image.size
