"""/service/token as each client calls it: GET with Basic, the OAuth2 POST form, refresh."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from harborlite.http.guard import TOKEN_BODY_LIMIT
from tests.e2e.conftest import PASSWORD, Team
from tests.harness import Harborlite


def access_of(token: str) -> list[dict[str, Any]]:
    return list(jwt.decode(token, options={"verify_signature": False})["access"])


def get_token(
    harborlite: Harborlite, params: list[tuple[str, str]], auth: tuple[str, str] | None = None
) -> httpx.Response:
    return httpx.get(f"{harborlite.url}/service/token", params=params, auth=auth, timeout=30)


def test_get_with_basic_grants_the_intersection(harborlite: Harborlite, team: Team) -> None:
    repo = f"{team.project}/app"
    response = get_token(
        harborlite,
        [
            ("service", "harbor-registry"),
            ("account", team.users["developer"]),
            ("scope", f"repository:{repo}:pull,push,delete"),
            ("scope", "repository:nosuchproject/x:pull"),
            ("scope", "registry:catalog:*"),
        ],
        auth=team.creds("developer"),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 1800
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"])
    assert access_of(body["token"]) == [
        {"type": "repository", "name": repo, "actions": ["pull", "push"]},
        {"type": "repository", "name": "nosuchproject/x", "actions": []},
        {"type": "registry", "name": "catalog", "actions": []},
    ]


def test_admin_gets_star_and_catalog(harborlite: Harborlite, team: Team) -> None:
    response = get_token(
        harborlite,
        [
            ("service", "harbor-registry"),
            ("scope", f"repository:{team.project}/a:*"),
            ("scope", "registry:catalog:*"),
        ],
        auth=harborlite.admin,
    )
    assert access_of(response.json()["token"]) == [
        {"type": "repository", "name": f"{team.project}/a", "actions": ["*"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]


def test_anonymous(harborlite: Harborlite, team: Team) -> None:
    # the docker login probe: no credentials, no scope
    probe = get_token(harborlite, [("service", "harbor-registry")])
    assert probe.status_code == 401
    assert probe.json()["errors"][0]["code"] == "UNAUTHORIZED"
    response = get_token(
        harborlite,
        [
            ("service", "harbor-registry"),
            ("scope", f"repository:{team.public_project}/a:pull,push"),
            ("scope", f"repository:{team.project}/a:pull"),
        ],
    )
    assert response.status_code == 200
    assert access_of(response.json()["token"]) == [
        {"type": "repository", "name": f"{team.public_project}/a", "actions": ["pull"]},
        {"type": "repository", "name": f"{team.project}/a", "actions": []},
    ]
    assert jwt.decode(response.json()["token"], options={"verify_signature": False})["sub"] == ""


def test_bad_credentials_and_bad_requests(harborlite: Harborlite, team: Team) -> None:
    wrong = get_token(
        harborlite,
        [("service", "harbor-registry"), ("scope", f"repository:{team.project}/a:pull")],
        auth=(team.users["developer"], "nope"),
    )
    assert wrong.status_code == 401
    assert wrong.json()["errors"][0]["message"] == "invalid username/password"
    unknown_user = get_token(harborlite, [("service", "harbor-registry")], auth=("ghost", "x"))
    assert unknown_user.status_code == 401
    malformed = get_token(
        harborlite, [("service", "harbor-registry"), ("scope", "nonsense")], auth=harborlite.admin
    )
    assert malformed.status_code == 400
    assert "malformed scope" in malformed.json()["errors"][0]["message"]
    other_service = get_token(harborlite, [("service", "elsewhere")], auth=harborlite.admin)
    assert other_service.status_code == 400


def test_post_password_grant_like_containerd(harborlite: Harborlite, team: Team) -> None:
    user, password = team.creds("guest")
    form = [
        ("client_id", "containerd-client"),
        ("grant_type", "password"),
        ("username", user),
        ("password", password),
        ("service", "harbor-registry"),
        ("scope", f"repository:{team.project}/a:pull repository:{team.project}/b:pull"),
        ("scope", f"repository:{team.project}/a:push"),
    ]
    response = httpx.post(
        f"{harborlite.url}/service/token",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert access_of(response.json()["access_token"]) == [
        {"type": "repository", "name": f"{team.project}/a", "actions": ["pull"]},
        {"type": "repository", "name": f"{team.project}/b", "actions": ["pull"]},
    ]
    assert "refresh_token" not in response.json()
    bad = httpx.post(
        f"{harborlite.url}/service/token", data={**dict(form[:4]), "password": "wrong"}
    )
    assert bad.status_code == 401
    unsupported = httpx.post(
        f"{harborlite.url}/service/token", data={"grant_type": "client_credentials"}
    )
    assert unsupported.status_code == 400


def test_refresh_token_flow_chunked_without_length(harborlite: Harborlite, team: Team) -> None:
    name = harborlite.unique("refresher")
    harborlite.create_user(name, PASSWORD)
    harborlite.add_member(team.project, name, 2)
    offline = httpx.post(
        f"{harborlite.url}/service/token",
        data={
            "grant_type": "password",
            "username": name,
            "password": PASSWORD,
            "service": "harbor-registry",
            "access_type": "offline",
            "client_id": "containers/image",
        },
    )
    refresh = offline.json()["refresh_token"]

    def chunked(body: bytes) -> Iterator[bytes]:
        yield body[:10]
        yield body[10:]

    form = (
        f"grant_type=refresh_token&client_id=containers/image&refresh_token={refresh}"
        f"&scope=repository:{team.project}/a:pull,push&service=harbor-registry"
    ).encode()
    response = httpx.post(
        f"{harborlite.url}/service/token",
        content=chunked(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert access_of(response.json()["token"]) == [
        {"type": "repository", "name": f"{team.project}/a", "actions": ["pull", "push"]}
    ]
    # a changed password kills the refresh token
    user_id = next(
        u["user_id"]
        for u in harborlite.api(
            "GET", "/users", auth=harborlite.admin, params={"username": name}
        ).json()
    )
    changed = harborlite.api(
        "PUT",
        f"/users/{user_id}/password",
        auth=harborlite.admin,
        json={"new_password": "Changed123x"},
    )
    assert changed.status_code == 200
    again = httpx.post(
        f"{harborlite.url}/service/token",
        content=chunked(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert again.status_code == 401


def test_password_change_and_delete_end_token_issuance(harborlite: Harborlite) -> None:
    name = harborlite.unique("leaver")
    user_id = harborlite.create_user(name, PASSWORD)
    params = [("service", "harbor-registry")]
    assert get_token(harborlite, params, auth=(name, PASSWORD)).status_code == 200  # cached now
    own = harborlite.api(
        "PUT",
        f"/users/{user_id}/password",
        auth=(name, PASSWORD),
        json={"old_password": PASSWORD, "new_password": "Another123x"},
    )
    assert own.status_code == 200
    assert get_token(harborlite, params, auth=(name, PASSWORD)).status_code == 401
    assert get_token(harborlite, params, auth=(name, "Another123x")).status_code == 200
    assert harborlite.api("DELETE", f"/users/{user_id}", auth=harborlite.admin).status_code == 200
    assert get_token(harborlite, params, auth=(name, "Another123x")).status_code == 401


def test_role_changes_reach_the_very_next_token(harborlite: Harborlite, team: Team) -> None:
    """Tokens are answered from a short-lived cache; a change through the API clears it."""
    name = harborlite.unique("mover")
    harborlite.create_user(name, PASSWORD)
    harborlite.add_member(team.project, name, 3)
    scope = [("service", "harbor-registry"), ("scope", f"repository:{team.project}/m:pull,push")]

    def actions() -> list[str]:
        response = get_token(harborlite, scope, auth=(name, PASSWORD))
        assert response.status_code == 200
        return list(access_of(response.json()["token"])[0]["actions"])

    assert actions() == ["pull"]
    assert actions() == ["pull"]  # now cached
    members = harborlite.api(
        "GET",
        f"/projects/{team.project}/members",
        auth=harborlite.admin,
        params={"entityname": name},
    ).json()
    member_id = members[0]["id"]
    promoted = harborlite.api(
        "PUT",
        f"/projects/{team.project}/members/{member_id}",
        auth=harborlite.admin,
        json={"role_id": 2},
    )
    assert promoted.status_code == 200
    assert actions() == ["pull", "push"]
    removed = harborlite.api(
        "DELETE", f"/projects/{team.project}/members/{member_id}", auth=harborlite.admin
    )
    assert removed.status_code == 200
    assert actions() == []
    private = harborlite.api(
        "PUT",
        f"/projects/{team.public_project}",
        auth=harborlite.admin,
        json={"metadata": {"public": "false"}},
    )
    assert private.status_code == 200
    anonymous = get_token(
        harborlite,
        [("service", "harbor-registry"), ("scope", f"repository:{team.public_project}/a:pull")],
    )
    assert access_of(anonymous.json()["token"])[0]["actions"] == []
    harborlite.api(
        "PUT",
        f"/projects/{team.public_project}",
        auth=harborlite.admin,
        json={"metadata": {"public": "true"}},
    )


def test_token_endpoint_edges_in_the_envelope(harborlite: Harborlite, team: Team) -> None:
    """The lean token app keeps what the rest of the app gives every answer: the request id,
    405 for other methods with Allow, the envelope, no caching of tokens."""
    url = f"{harborlite.url}/service/token"
    put = httpx.put(url, auth=harborlite.admin, headers={"X-Request-Id": "tok-put-1"}, timeout=30)
    assert put.status_code == 405
    assert put.headers["allow"] == "GET, HEAD, POST"
    assert put.headers["x-request-id"] == "tok-put-1"
    assert put.json() == {
        "errors": [{"code": "METHOD_NOT_ALLOWED", "message": "use GET, HEAD or POST"}]
    }
    params = [("service", "harbor-registry"), ("scope", f"repository:{team.project}/e:pull")]
    got = get_token(harborlite, params, auth=harborlite.admin)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/json"
    assert got.headers["cache-control"] == "no-store"
    assert re.fullmatch(r"[0-9a-f]{32}", got.headers["x-request-id"])
    head = httpx.head(url, params=params, auth=harborlite.admin, timeout=30)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0
    # repeated and percent-encoded parameters are read the way Starlette read them
    encoded = httpx.get(
        f"{url}?service=harbor-registry&scope=repository%3A{team.project}%2Fe%3Apull"
        f"&scope=repository:{team.project}/f:pull&offline_token=TRUE",
        auth=harborlite.admin,
        timeout=30,
    )
    assert encoded.status_code == 200
    assert [a["name"] for a in access_of(encoded.json()["token"])] == [
        f"{team.project}/e",
        f"{team.project}/f",
    ]
    assert "refresh_token" in encoded.json()
    wrong = get_token(harborlite, params, auth=(harborlite.admin[0], "not-the-password"))
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == 'Basic realm="harborlite"'


def test_malformed_token_forms_are_400_in_the_envelope(harborlite: Harborlite) -> None:
    url = f"{harborlite.url}/service/token"
    many = "&".join(f"f{n}=x" for n in range(60))
    cases = [
        # a file part (the token form takes none)
        httpx.post(url, files={"upload": ("a.txt", b"hello")}, data={"grant_type": "password"}),
        # multipart without a boundary
        httpx.post(url, content=b"x", headers={"Content-Type": "multipart/form-data"}),
        # more fields than any client sends
        httpx.post(
            url,
            content=f"grant_type=password&{many}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
    ]
    for answer in cases:
        assert answer.status_code == 400, answer.text
        error = answer.json()["errors"][0]
        assert error["code"] == "BAD_REQUEST"
        assert error["message"].startswith("malformed form")
    assert "unhandled error" not in harborlite.log()


def test_a_form_field_over_the_body_limit_is_a_413_in_the_envelope(
    harborlite: Harborlite,
) -> None:
    with harborlite.client() as client:
        answer = client.post(
            "/service/token",
            data={"grant_type": "password", "username": "admin", "password": "x" * (2 << 20)},
        )
    # the body limit of the token service is 64 KiB: a 2 MiB form is refused before it is read
    assert answer.status_code == 413, answer.text[:200]
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "errors": [
            {
                "code": "PAYLOAD_TOO_LARGE",
                "message": f"request body larger than {TOKEN_BODY_LIMIT} bytes",
            }
        ]
    }


def test_an_unauthenticated_chunked_form_is_refused_once_the_limit_arrived(
    harborlite: Harborlite,
) -> None:
    field = b"x" * (1000 * 1024)  # just under Starlette's 1 MiB per-field limit

    def body() -> Iterator[bytes]:
        yield b"grant_type=password&username=nobody&password=x"
        for n in range(300):  # 300 fields of ~1 MB: ~300 MB, no credentials needed
            yield b"&f%d=" % n + field

    with httpx.Client(base_url=harborlite.url, timeout=120) as client:
        answer = client.post(
            "/service/token",
            content=body(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    # refused once 64 KiB arrived, in the envelope, however long the client goes on
    assert answer.status_code == 413
    assert answer.json()["errors"][0]["code"] == "PAYLOAD_TOO_LARGE"


def test_docker_gets_no_refresh_token_other_clients_do(harborlite: Harborlite, team: Team) -> None:
    """docker keeps a refresh token in config.json in place of the password, and a Kubernetes
    pull secret made from that file cannot pull (kubelet reads only ``auth``)."""
    user = team.creds("developer")
    form = {
        "grant_type": "password",
        "username": user[0],
        "password": PASSWORD,
        "service": "harbor-registry",
        "access_type": "offline",
    }
    url = f"{harborlite.url}/service/token"
    docker = httpx.post(url, data={**form, "client_id": "docker"}, timeout=30)
    assert docker.status_code == 200, docker.text
    assert "refresh_token" not in docker.json()
    # what `docker login` 20.10 sends: a GET with Basic credentials and offline_token
    login = {"account": user[0], "client_id": "docker", "offline_token": "true"}
    got = httpx.get(url, params={**login, "service": "harbor-registry"}, auth=(user[0], PASSWORD))
    assert got.status_code == 200, got.text
    assert "refresh_token" not in got.json()
    login["client_id"] = "other"
    got = httpx.get(url, params={**login, "service": "harbor-registry"}, auth=(user[0], PASSWORD))
    assert "refresh_token" in got.json()
    other = httpx.post(url, data={**form, "client_id": "containers/image"}, timeout=30)
    assert other.status_code == 200, other.text
    refresh = other.json()["refresh_token"]
    again = httpx.post(
        url,
        data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "docker"},
        timeout=30,
    )
    assert again.status_code == 200, again.text  # a refresh token in hand still works
