"""The scanner registry API (``/scanners``) and a project's scanner: Harbor's validation and
texts, who may, the credential kept and never shown, ping and metadata against a real adapter
process, the default, and a project's choice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Harborlite, own_harborlite
from tests.scanning.support import AdapterProcess, register, start_adapter
from tests.support.processes import free_port

PASSWORD = "Passw0rd!x"


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite()


@pytest.fixture(scope="module")
def adapter() -> Iterator[AdapterProcess]:
    process = start_adapter()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def keyed() -> Iterator[AdapterProcess]:
    process = start_adapter("--api-key", "s3cr3t-key")
    yield process
    process.stop()


def _error(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    return str(body["errors"][0]["message"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "http://x:1"}, "missing registration name"),
        ({"name": "a", "url": ""}, "scanner registration validate: empty url"),
        ({"name": "a", "url": "ftp://x"}, "scanner registration validate: invalid scheme"),
        ({"name": "a", "url": "not a url"}, "scanner registration validate: invalid scheme"),
        ({"name": "a", "url": "http://x:1", "auth": "Digest"}, "auth type Digest is not supported"),
        (
            {"name": "a", "url": "http://x:1", "auth": "Bearer"},
            "access_credential is required for auth type Bearer",
        ),
        ({"name": "bad name!", "url": "http://x:1"}, "invalid registration name"),
        ({"name": "a", "url": "http://x:1", "disabled": "yes"}, "disabled must be true or false"),
    ],
)
def test_bad_registrations_are_refused(
    server: Harborlite, body: dict[str, object], message: str
) -> None:
    before = server.api("GET", "/scanners", auth=server.admin).json()
    response = server.api("POST", "/scanners", auth=server.admin, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert message in _error(response)
    assert server.api("GET", "/scanners", auth=server.admin).json() == before  # nothing kept


def test_register_list_get_update_delete(server: Harborlite, adapter: AdapterProcess) -> None:
    name = server.unique("trivy")
    response = server.api(
        "POST",
        "/scanners",
        auth=server.admin,
        json={
            "name": name,
            "url": adapter.url,
            "description": "the test adapter",
            "auth": "Bearer",
            "access_credential": "tok-123-secret",
        },
    )
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location.startswith("/api/v2.0/scanners/")
    registration_id = location.rsplit("/", 1)[1]
    shown = server.api("GET", f"/scanners/{registration_id}", auth=server.admin).json()
    assert shown["name"] == name and shown["url"] == adapter.url
    assert shown["auth"] == "Bearer" and shown["uuid"] == registration_id
    assert "access_credential" not in shown and "tok-123-secret" not in str(shown)
    listed = server.api("GET", "/scanners", auth=server.admin)
    assert registration_id in [s["uuid"] for s in listed.json()]
    assert "tok-123-secret" not in listed.text
    # the credential is sealed at rest: not in the database file
    assert b"tok-123-secret" not in (server.data_dir / "harborlite.db").read_bytes()
    key_file = server.data_dir / "secrets.key"
    assert key_file.stat().st_mode & 0o777 == 0o600

    # PUT keeps the credential when none is given and auth still needs one
    updated = server.api(
        "PUT",
        f"/scanners/{registration_id}",
        auth=server.admin,
        json={"name": name, "url": adapter.url, "auth": "Bearer", "description": "changed"},
    )
    assert updated.status_code == 200, updated.text
    assert (
        server.api("GET", f"/scanners/{registration_id}", auth=server.admin).json()["description"]
        == "changed"
    )

    deleted = server.api("DELETE", f"/scanners/{registration_id}", auth=server.admin)
    assert deleted.status_code == 200 and deleted.json()["uuid"] == registration_id
    gone = server.api("GET", f"/scanners/{registration_id}", auth=server.admin)
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "NOT_FOUND"


def test_duplicate_name_and_url_conflict(server: Harborlite, adapter: AdapterProcess) -> None:
    name = server.unique("dup")
    register(server, f"http://127.0.0.1:{free_port()}", name)
    again = server.api(
        "POST", "/scanners", auth=server.admin, json={"name": name, "url": "http://other:1"}
    )
    assert again.status_code == 409, again.text
    assert _error(again) == f"scanner registration name {name} already exists"
    url = f"http://127.0.0.1:{free_port()}"
    register(server, url, server.unique("url"))
    same_url = server.api(
        "POST", "/scanners", auth=server.admin, json={"name": server.unique("u"), "url": url}
    )
    assert same_url.status_code == 409 and "url" in _error(same_url)


def test_only_system_admins_manage_scanners(server: Harborlite, adapter: AdapterProcess) -> None:
    user = server.unique("dev")
    server.create_user(user, PASSWORD)
    body = {"name": server.unique("x"), "url": adapter.url}
    for method, path, json in (
        ("GET", "/scanners", None),
        ("POST", "/scanners", body),
        ("POST", "/scanners/ping", body),
    ):
        refused = server.api(method, path, auth=(user, PASSWORD), json=json)
        assert refused.status_code == 403, (method, path, refused.text)
        anonymous = server.api(method, path, json=json)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
    assert body["name"] not in str(server.api("GET", "/scanners", auth=server.admin).json())


def test_ping_and_metadata(
    server: Harborlite, adapter: AdapterProcess, keyed: AdapterProcess
) -> None:
    ok = server.api(
        "POST", "/scanners/ping", auth=server.admin, json={"name": "p", "url": adapter.url}
    )
    assert ok.status_code == 200, ok.text
    down = f"http://127.0.0.1:{free_port()}"
    unreachable = server.api(
        "POST", "/scanners/ping", auth=server.admin, json={"name": "p", "url": down}
    )
    assert unreachable.status_code == 400, unreachable.text
    assert f"the scanner adapter at {down} cannot be reached" in _error(unreachable)
    # an API key adapter: refused without the key, answered with it
    no_key = server.api(
        "POST", "/scanners/ping", auth=server.admin, json={"name": "k", "url": keyed.url}
    )
    assert no_key.status_code == 400 and "answered 401" in _error(no_key)
    with_key = server.api(
        "POST",
        "/scanners/ping",
        auth=server.admin,
        json={
            "name": "k",
            "url": keyed.url,
            "auth": "X-ScannerAdapter-API-Key",
            "access_credential": "s3cr3t-key",
        },
    )
    assert with_key.status_code == 200, with_key.text
    registration_id = register(
        server,
        keyed.url,
        server.unique("keyed"),
        auth="X-ScannerAdapter-API-Key",
        access_credential="s3cr3t-key",
    )
    meta = server.api("GET", f"/scanners/{registration_id}/metadata", auth=server.admin)
    assert meta.status_code == 200, meta.text
    assert meta.json()["scanner"]["name"] == "TestScanner"
    assert (
        "application/vnd.oci.image.manifest.v1+json"
        in (meta.json()["capabilities"][0]["consumes_mime_types"])
    )


def test_default_and_project_scanner(server: Harborlite, adapter: AdapterProcess) -> None:
    first = register(server, f"http://127.0.0.1:{free_port()}", server.unique("a"))
    second = register(server, f"http://127.0.0.1:{free_port()}", server.unique("b"))
    made = server.api("PATCH", f"/scanners/{second}", auth=server.admin, json={"is_default": True})
    assert made.status_code == 200, made.text
    defaults = [
        s["uuid"]
        for s in server.api("GET", "/scanners", auth=server.admin, params={"page_size": 100}).json()
        if s["is_default"]
    ]
    assert defaults == [second]
    bad = server.api("PATCH", f"/scanners/{second}", auth=server.admin, json={"is_default": "x"})
    assert bad.status_code == 400

    project = server.unique("scanproj")
    server.create_project(project)
    assert (
        server.api("GET", f"/projects/{project}/scanner", auth=server.admin).json()["uuid"]
        == second
    )  # the default, until the project chooses
    chosen = server.api(
        "PUT", f"/projects/{project}/scanner", auth=server.admin, json={"uuid": first}
    )
    assert chosen.status_code == 200, chosen.text
    assert (
        server.api("GET", f"/projects/{project}/scanner", auth=server.admin).json()["uuid"] == first
    )
    unknown = server.api(
        "PUT", f"/projects/{project}/scanner", auth=server.admin, json={"uuid": "nope"}
    )
    assert unknown.status_code == 400 and "nope" in _error(unknown)
    candidates = server.api("GET", f"/projects/{project}/scanner/candidates", auth=server.admin)
    assert candidates.status_code == 200 and first in [c["uuid"] for c in candidates.json()]
    # a guest of the project reads its scanner but may not choose it
    guest = server.unique("guest")
    server.create_user(guest, PASSWORD)
    server.add_member(project, guest, 3)
    assert (
        server.api("GET", f"/projects/{project}/scanner", auth=(guest, PASSWORD)).status_code == 200
    )
    refused = server.api(
        "PUT", f"/projects/{project}/scanner", auth=(guest, PASSWORD), json={"uuid": second}
    )
    assert refused.status_code == 403
    assert (
        server.api("GET", f"/projects/{project}/scanner", auth=server.admin).json()["uuid"] == first
    )
    # deleting the chosen one: the project falls back to the default
    server.api("DELETE", f"/scanners/{first}", auth=server.admin)
    assert (
        server.api("GET", f"/projects/{project}/scanner", auth=server.admin).json()["uuid"]
        == second
    )
