"""Harbor's ``/registries`` against a real harborlite (its own, on SQLite) and a real Docker Hub
stand-in: validation and its texts, admin only, sealed credentials never shown, health kept,
deletes refused while something uses the endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Harborlite, own_harborlite
from tests.remote.hub_standin import HubStandin
from tests.support.polling import eventually
from tests.support.processes import free_port

USER, PASSWORD = "hubuser", "Hub-Sealed-Secret-77"


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStandin]:
    standin = HubStandin.start(tmp_path_factory.mktemp("hub"), user=USER, password=PASSWORD)
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture(scope="module")
def seen() -> list[str]:
    """Every response body of this module, searched for the secret at the end."""
    return []


def call(
    server: Harborlite, seen: list[str], method: str, path: str, **kwargs: Any
) -> httpx.Response:
    kwargs.setdefault("auth", server.admin)
    response = server.api(method, path, **kwargs)
    seen.append(response.text + str(response.headers))
    return response


def hub_body(hub: HubStandin, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "docker-hub",
        "url": hub.url,
        "insecure": False,
        "credential": {"type": "basic", "access_key": USER, "access_secret": PASSWORD},
        "description": "the stand-in",
        **extra,
    }


def create(server: Harborlite, seen: list[str], body: dict[str, Any]) -> int:
    response = call(server, seen, "POST", "/registries", json=body)
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location.startswith("/api/v2.0/registries/")
    return int(location.rsplit("/", 1)[1])


def total(server: Harborlite) -> int:
    return int(server.api("GET", "/registries", auth=server.admin).headers["X-Total-Count"])


def test_create_get_list(server: Harborlite, hub: HubStandin, seen: list[str]) -> None:
    name = server.unique("hub")
    registry_id = create(server, seen, hub_body(hub, name, rate_per_second=5))
    shown = call(server, seen, "GET", f"/registries/{registry_id}").json()
    assert shown["name"] == name and shown["type"] == "docker-hub" and shown["url"] == hub.url
    assert shown["credential"] == {"type": "basic", "access_key": USER, "access_secret": "*****"}
    assert shown["rate_per_second"] == 5
    assert shown["description"] == "the stand-in" and shown["insecure"] is False
    assert shown["creation_time"] and shown["update_time"]
    # the health check queued by the create finds it healthy
    eventually(
        lambda: (
            call(server, seen, "GET", f"/registries/{registry_id}").json()["status"] == "healthy"
        ),
        "the new endpoint checked healthy",
    )
    listed = call(server, seen, "GET", "/registries", params={"q": f"name={name}"})
    assert listed.headers["X-Total-Count"] == "1"
    assert [item["id"] for item in listed.json()] == [registry_id]
    fuzzy = call(server, seen, "GET", "/registries", params={"name": name[:-2]})
    assert registry_id in [item["id"] for item in fuzzy.json()]
    paged = call(server, seen, "GET", "/registries", params={"page_size": 1})
    assert len(paged.json()) == 1
    logs = call(server, seen, "GET", "/audit-logs", params={"page_size": 100}).json()
    entries = [e for e in logs if e["resource_type"] == "registry" and e["resource"] == name]
    assert [e["operation"] for e in entries] == ["create"]


def test_docker_hub_url_defaults(server: Harborlite, seen: list[str]) -> None:
    name = server.unique("dockerhub")
    registry_id = create(server, seen, {"name": name, "type": "docker-hub"})
    shown = call(server, seen, "GET", f"/registries/{registry_id}").json()
    assert shown["url"] == "https://registry-1.docker.io"
    assert shown["credential"]["access_secret"] == ""
    assert call(server, seen, "DELETE", f"/registries/{registry_id}").status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "text"),
    [
        ({"url": "ftp://example.com"}, 400, "invalid HTTP scheme: ftp"),
        ({"type": "docker-registry", "url": ""}, 400, "empty string"),
        ({"url": "http://u:p@example.com"}, 400, "must not hold credentials"),
        ({"url": "http://example.com/?a=b"}, 400, "query"),
        ({"url": "http://exa mple.com"}, 400, "malformed URL"),
        ({"type": "quay"}, 400, "unsupported registry type: quay"),
        ({"type": None}, 400, "type is required"),
        ({"name": ""}, 400, "name is required"),
        ({"name": "x" * 256}, 400, "at most 255"),
        ({"ca_certificate": "not a certificate"}, 400, "invalid CA certificate"),
        ({"rate_per_second": 0}, 400, "rate_per_second"),
        ({"rate_per_second": "fast"}, 400, "rate_per_second"),
        ({"insecure": "yes"}, 400, "insecure must be a boolean"),
        ({"credential": {"type": "oauth", "access_key": "a"}}, 400, "credential type"),
        ({"credential": "user:pass"}, 400, "credential must be an object"),
    ],
)
def test_bad_input_is_refused_and_nothing_made(
    server: Harborlite,
    hub: HubStandin,
    seen: list[str],
    change: dict[str, Any],
    status: int,
    text: str,
) -> None:
    before = total(server)
    body = {**hub_body(hub, server.unique("bad")), **change}
    response = call(server, seen, "POST", "/registries", json=body)
    assert response.status_code == status, response.text
    assert text in response.json()["errors"][0]["message"]
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert total(server) == before


def test_name_is_unique(server: Harborlite, hub: HubStandin, seen: list[str]) -> None:
    name = server.unique("dup")
    first = create(server, seen, hub_body(hub, name))
    again = call(server, seen, "POST", "/registries", json=hub_body(hub, name))
    assert again.status_code == 409
    assert again.json()["errors"][0] == {
        "code": "CONFLICT",
        "message": f"registry {name} already exists",
    }
    other = create(server, seen, hub_body(hub, server.unique("other")))
    rename = call(server, seen, "PUT", f"/registries/{other}", json={"name": name})
    assert rename.status_code == 409
    for registry_id in (first, other):
        assert call(server, seen, "DELETE", f"/registries/{registry_id}").status_code == 200


def test_admin_only(server: Harborlite, hub: HubStandin, seen: list[str]) -> None:
    registry_id = create(server, seen, hub_body(hub, server.unique("guarded")))
    user = server.unique("plain")
    server.create_user(user)
    routes = [
        ("GET", "/registries", None),
        ("POST", "/registries", hub_body(hub, server.unique("nope"))),
        ("GET", f"/registries/{registry_id}", None),
        ("PUT", f"/registries/{registry_id}", {"description": "mine"}),
        ("DELETE", f"/registries/{registry_id}", None),
        ("POST", "/registries/ping", {"id": registry_id}),
        ("GET", f"/registries/{registry_id}/info", None),
        ("GET", "/replication/adapters", None),
        ("GET", "/replication/adapterinfos", None),
    ]
    for method, path, body in routes:
        signed_in = call(server, seen, method, path, json=body, auth=(user, "Passw0rd!x"))
        assert signed_in.status_code == 403, (method, path, signed_in.text)
        anonymous = server.api(method, path, json=body)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
    shown = call(server, seen, "GET", f"/registries/{registry_id}").json()
    assert shown["description"] == "the stand-in"  # untouched


def test_update_keeps_the_secret(server: Harborlite, hub: HubStandin, seen: list[str]) -> None:
    registry_id = create(server, seen, hub_body(hub, server.unique("upd")))
    shown = call(server, seen, "GET", f"/registries/{registry_id}").json()
    # a client sends back what it read: "*****" keeps the stored secret
    body = {
        "name": shown["name"],
        "description": "changed",
        "url": shown["url"],
        "access_key": USER,
        "access_secret": "*****",
        "credential_type": "basic",
        "rate_per_second": None,
    }
    assert call(server, seen, "PUT", f"/registries/{registry_id}", json=body).status_code == 200
    after = call(server, seen, "GET", f"/registries/{registry_id}").json()
    assert after["description"] == "changed" and after["rate_per_second"] is None
    ping = call(server, seen, "POST", "/registries/ping", json={"id": registry_id})
    assert ping.status_code == 200, ping.text  # the secret still works
    # a new wrong secret is stored, and the ping by id then fails
    wrong = {"access_secret": "not-the-password"}
    assert call(server, seen, "PUT", f"/registries/{registry_id}", json=wrong).status_code == 200
    refused = call(server, seen, "POST", "/registries/ping", json={"id": registry_id})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"].startswith("the registry is unhealthy")
    eventually(
        lambda: (
            call(server, seen, "GET", f"/registries/{registry_id}").json()["status"] == "unhealthy"
        ),
        "the update's health check found the wrong secret",
    )
    bad = call(server, seen, "PUT", f"/registries/{registry_id}", json={"url": "gopher://x"})
    assert bad.status_code == 400
    kind = call(server, seen, "PUT", f"/registries/{registry_id}", json={"type": "harbor"})
    assert kind.status_code == 400
    assert call(server, seen, "PUT", "/registries/999999", json={}).status_code == 404


def test_ping_by_body(server: Harborlite, hub: HubStandin, seen: list[str]) -> None:
    body = {
        "type": "docker-hub",
        "url": hub.url,
        "credential_type": "basic",
        "access_key": USER,
        "access_secret": PASSWORD,
    }
    assert call(server, seen, "POST", "/registries/ping", json=body).status_code == 200
    wrong = call(server, seen, "POST", "/registries/ping", json={**body, "access_secret": "x"})
    assert wrong.status_code == 400
    down = {"type": "docker-registry", "url": f"http://127.0.0.1:{free_port()}"}
    unreachable = call(server, seen, "POST", "/registries/ping", json=down)
    assert unreachable.status_code == 400
    assert "unhealthy" in unreachable.json()["errors"][0]["message"]
    missing = call(server, seen, "POST", "/registries/ping", json={"type": "harbor"})
    assert missing.status_code == 400 and "url is required" in missing.text
    unknown = call(server, seen, "POST", "/registries/ping", json={"id": 999999})
    assert unknown.status_code == 404


def test_unreachable_endpoint_turns_unhealthy(server: Harborlite, seen: list[str]) -> None:
    body = {"name": server.unique("down"), "type": "docker-registry"}
    body["url"] = f"http://127.0.0.1:{free_port()}"
    registry_id = create(server, seen, body)
    eventually(
        lambda: (
            call(server, seen, "GET", f"/registries/{registry_id}").json()["status"] == "unhealthy"
        ),
        "the unreachable endpoint checked unhealthy",
    )
    shown = call(server, seen, "GET", f"/registries/{registry_id}").json()
    assert shown["status_message"]


def test_info_and_adapters(server: Harborlite, hub: HubStandin, seen: list[str]) -> None:
    registry_id = create(server, seen, hub_body(hub, server.unique("info")))
    info = call(server, seen, "GET", f"/registries/{registry_id}/info").json()
    assert info["type"] == "docker-hub"
    assert {f["type"] for f in info["supported_resource_filters"]} >= {"name", "tag"}
    assert "manual" in info["supported_triggers"]
    adapters = call(server, seen, "GET", "/replication/adapters").json()
    assert sorted(adapters) == ["docker-hub", "docker-registry", "harbor"]
    infos = call(server, seen, "GET", "/replication/adapterinfos").json()
    assert infos["docker-hub"]["endpoint_pattern"]["endpoint_type"] == "EndpointPatternTypeFix"
    assert call(server, seen, "GET", "/registries/999999/info").status_code == 404


def test_delete_refused_while_a_proxy_project_uses_it(
    server: Harborlite, hub: HubStandin, seen: list[str]
) -> None:
    registry_id = create(server, seen, hub_body(hub, server.unique("used")))
    project = server.unique("cache")
    made = call(
        server,
        seen,
        "POST",
        "/projects",
        json={"project_name": project, "registry_id": registry_id, "metadata": {}},
    )
    assert made.status_code == 201, made.text
    refused = call(server, seen, "DELETE", f"/registries/{registry_id}")
    assert refused.status_code == 412, refused.text
    message = refused.json()["errors"][0]["message"]
    assert f"the registry {registry_id} is referenced by" in message and project in message
    assert call(server, seen, "GET", f"/registries/{registry_id}").status_code == 200
    assert call(server, seen, "DELETE", f"/projects/{project}").status_code == 200
    assert call(server, seen, "DELETE", f"/registries/{registry_id}").status_code == 200
    assert call(server, seen, "GET", f"/registries/{registry_id}").status_code == 404
    assert call(server, seen, "DELETE", f"/registries/{registry_id}").status_code == 404


def test_zz_the_secret_is_never_shown_nor_stored_in_clear(
    server: Harborlite, seen: list[str]
) -> None:
    """Last in the module: every response it got, the server's log and its database file."""
    assert seen, "the other tests ran first"
    assert not [text for text in seen if PASSWORD in text]
    assert PASSWORD not in server.log_path.read_text()
    database = Path(server.data_dir) / "harborlite.db"
    raw = database.read_bytes()
    for extra in ("-wal", "-journal"):
        side = database.with_name(database.name + extra)
        if side.exists():
            raw += side.read_bytes()
    assert PASSWORD.encode() not in raw
    key = Path(server.data_dir) / "secrets.key"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
