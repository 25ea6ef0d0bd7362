"""Creating proxy-cache projects (Harbor's request and checks) and refusing pushes into them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tests.api.pushing import Pusher, image_manifest
from tests.harness import Harborlite, own_harborlite
from tests.proxycache.support import add_endpoint, create_proxy_project, digest_of

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite()


@pytest.fixture(scope="module")
def endpoint_id(server: Harborlite) -> int:
    # never reached here: creation and push refusals do not talk to upstream
    return add_endpoint(server, "upstream", "docker-registry", "http://127.0.0.1:9")


def _error(response: object) -> tuple[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    return body["errors"][0]["code"], body["errors"][0]["message"]


def _exists(server: Harborlite, name: str) -> bool:
    response = server.api("HEAD", f"/projects?project_name={name}", auth=server.admin)
    return response.status_code == 200


def test_an_admin_creates_one_with_its_metadata_and_retention(
    server: Harborlite, endpoint_id: int
) -> None:
    name = server.unique("proxy")
    metadata = {
        "proxy_speed_kb": "2048",
        "max_upstream_conn": "4",
        "proxy_cache_local_on_not_found": "true",
        "enable_content_trust": "true",
    }
    response = create_proxy_project(server, name, endpoint_id, metadata)
    assert response.status_code == 201, response.text
    project = server.api("GET", f"/projects/{name}", auth=server.admin).json()
    assert project["registry_id"] == endpoint_id
    assert project["metadata"]["proxy_speed_kb"] == "2048"
    assert project["metadata"]["max_upstream_conn"] == "4"
    assert project["metadata"]["proxy_cache_local_on_not_found"] == "true"
    assert "enable_content_trust" not in project["metadata"]  # dropped, as Harbor does
    listed = server.api("GET", f"/projects?name={name}", auth=server.admin).json()
    assert [p["registry_id"] for p in listed] == [endpoint_id]

    policy_id = project["metadata"]["retention_id"]
    policy = server.api("GET", f"/retentions/{policy_id}", auth=server.admin).json()
    (rule,) = policy["rules"]
    assert rule["template"] == "nDaysSinceLastPull"
    assert rule["params"] == {"nDaysSinceLastPull": 7}
    assert policy["trigger"]["settings"]["cron"] == "0 0 0 * * *"


def test_defaults_for_the_proxy_metadata(server: Harborlite, endpoint_id: int) -> None:
    name = server.unique("proxy")
    assert create_proxy_project(server, name, endpoint_id).status_code == 201
    metadata = server.api("GET", f"/projects/{name}", auth=server.admin).json()["metadata"]
    assert metadata["proxy_speed_kb"] == "-1"
    assert metadata["max_upstream_conn"] == "-1"
    assert metadata["proxy_cache_local_on_not_found"] == "false"


def test_an_ordinary_project_has_registry_id_0(server: Harborlite) -> None:
    name = server.unique("plain")
    server.create_project(name)
    assert server.api("GET", f"/projects/{name}", auth=server.admin).json()["registry_id"] == 0


def test_only_a_system_admin_creates_one(server: Harborlite, endpoint_id: int) -> None:
    user = server.unique("dev")
    server.create_user(user, "Passw0rd!x")
    name = server.unique("proxy")
    response = create_proxy_project(server, name, endpoint_id, auth=(user, "Passw0rd!x"))
    assert response.status_code == 403
    assert _error(response) == ("FORBIDDEN", "Only system admin can create proxy cache project")
    assert not _exists(server, name)


def test_an_unknown_endpoint_is_refused(server: Harborlite) -> None:
    name = server.unique("proxy")
    response = create_proxy_project(server, name, 99999)
    assert response.status_code == 400
    assert _error(response) == ("BAD_REQUEST", "registry 99999 not found")
    assert not _exists(server, name)


def test_an_unsupported_endpoint_type_is_refused(server: Harborlite) -> None:
    registry_id = add_endpoint(server, server.unique("quay"), "docker-registry", "http://x")
    with sqlite3.connect(server.data_dir / "harborlite.db") as db:  # a type R1 may list later
        db.execute("UPDATE registries SET type = 'quay' WHERE id = ?", (registry_id,))
    name = server.unique("proxy")
    response = create_proxy_project(server, name, registry_id)
    assert response.status_code == 400
    assert _error(response) == ("BAD_REQUEST", "unsupported registry type quay")
    assert not _exists(server, name)


@pytest.mark.parametrize(
    "metadata",
    [
        {"proxy_speed_kb": "fast"},
        {"max_upstream_conn": "0"},
        {"proxy_cache_local_on_not_found": "1"},
    ],
)
def test_bad_proxy_metadata_is_refused(
    server: Harborlite, endpoint_id: int, metadata: dict[str, str]
) -> None:
    name = server.unique("proxy")
    response = create_proxy_project(server, name, endpoint_id, metadata)
    assert response.status_code == 400, response.text
    assert not _exists(server, name)


def test_a_bad_registry_id_is_refused(server: Harborlite) -> None:
    body = {"project_name": server.unique("proxy"), "registry_id": "3"}
    response = server.api("POST", "/projects", auth=server.admin, json=body)
    assert response.status_code == 400


def test_pushes_into_a_proxy_project_are_refused(server: Harborlite, endpoint_id: int) -> None:
    name = server.unique("proxy")
    assert create_proxy_project(server, name, endpoint_id).status_code == 201
    repository = f"{name}/app"
    expected = ("DENIED", f"can not push artifact to a proxy project: {name}")
    with Pusher(server) as pusher:
        headers = pusher._headers(repository)
        started = pusher.client.post(f"/v2/{repository}/blobs/uploads/", headers=headers)
        assert started.status_code == 403
        assert _error(started) == expected
        monolithic = pusher.client.post(
            f"/v2/{repository}/blobs/uploads/?digest={digest_of(b'x')}",
            headers=headers,
            content=b"x",
        )
        assert monolithic.status_code == 403
        manifest = image_manifest(b"{}", b"layer")
        put = pusher.client.put(
            f"/v2/{repository}/manifests/v1",
            content=manifest,
            headers={**headers, "Content-Type": OCI_MANIFEST},
        )
        assert put.status_code == 403
        assert _error(put) == expected
    repositories = server.api("GET", f"/projects/{name}/repositories", auth=server.admin)
    assert repositories.json() == []
