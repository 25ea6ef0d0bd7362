"""Cross-site writes: the REST API takes JSON only as ``application/json``, refuses a write a
browser sent for another site's page whatever its credentials (Basic included), and never makes
a browser prompt for Basic credentials. curl-like clients (no ``Origin``) keep working."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.harness import Harborlite

EVIL = "http://evil.example"


def _project(harborlite: Harborlite, prefix: str) -> tuple[str, bytes]:
    name = harborlite.unique(prefix)
    return name, json.dumps({"project_name": name, "metadata": {"public": "false"}}).encode()


def _exists(harborlite: Harborlite, name: str) -> bool:
    answer = harborlite.api(
        "HEAD", "/projects", auth=harborlite.admin, params={"project_name": name}
    )
    return answer.status_code == 200


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]*)"', html)
    assert match, "no csrf-token meta tag"
    return match.group(1)


def _error(answer: httpx.Response) -> dict[str, str]:
    [error] = answer.json()["errors"]
    return dict(error)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None],
)
def test_json_under_another_content_type_is_415(
    harborlite: Harborlite, content_type: str | None
) -> None:
    name, body = _project(harborlite, "ctype")
    headers = {} if content_type is None else {"Content-Type": content_type}
    with harborlite.client(harborlite.admin) as client:
        request = client.build_request("POST", "/api/v2.0/projects", content=body, headers=headers)
        assert ("content-type" in request.headers) == (content_type is not None)
        answer = client.send(request)
    assert answer.status_code == 415, answer.text
    assert _error(answer)["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "application/json" in _error(answer)["message"]
    assert not _exists(harborlite, name)


def test_a_cli_write_in_json_still_works(harborlite: Harborlite) -> None:
    for content_type in ("application/json", "application/json; charset=utf-8"):
        name, body = _project(harborlite, "cli")
        answer = harborlite.api(
            "POST",
            "/projects",
            auth=harborlite.admin,
            content=body,
            headers={"Content-Type": content_type},
        )
        assert answer.status_code == 201, answer.text
        assert _exists(harborlite, name)
    # a write without a body needs no content type (curl -X DELETE)
    gone = harborlite.api("DELETE", f"/projects/{name}", auth=harborlite.admin)
    assert gone.status_code == 200, gone.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": "null"},  # a sandboxed frame, a data: page
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://other.127.0.0.1.nip.io"},
    ],
)
def test_a_cross_origin_write_with_basic_credentials_is_refused(
    harborlite: Harborlite, headers: dict[str, str]
) -> None:
    """What a page of another site gets when the browser holds the admin's Basic credentials."""
    name, body = _project(harborlite, "csrf")
    answer = harborlite.api(
        "POST",
        "/projects",
        auth=harborlite.admin,
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )
    assert answer.status_code == 403, answer.text
    assert _error(answer)["code"] == "FORBIDDEN"
    assert "cross-origin" in _error(answer)["message"]
    assert not _exists(harborlite, name)
    deleted = harborlite.api("DELETE", "/projects/library", auth=harborlite.admin, headers=headers)
    assert deleted.status_code == 403
    assert _exists(harborlite, "library")


def test_a_write_from_harborlites_own_origin_with_basic_credentials_works(
    harborlite: Harborlite,
) -> None:
    name, body = _project(harborlite, "own")
    assert not _exists(harborlite, name)
    answer = harborlite.api(
        "POST",
        "/projects",
        auth=harborlite.admin,
        content=body,
        headers={
            "Content-Type": "application/json",
            "Origin": harborlite.url,
            "Sec-Fetch-Site": "same-origin",
        },
    )
    assert answer.status_code == 201, answer.text
    assert _exists(harborlite, name)


def test_a_session_write_needs_its_csrf_token_even_from_the_own_origin(
    harborlite: Harborlite,
) -> None:
    with httpx.Client(base_url=harborlite.url, timeout=30) as browser:
        login = browser.get("/login").text
        signed = browser.post(
            "/login",
            data={"username": "admin", "password": harborlite.admin[1], "csrf_token": _csrf(login)},
        )
        assert signed.status_code == 303, signed.text
        csrf = _csrf(browser.get("/").text)
        name, body = _project(harborlite, "cookie")
        json_type = {"Content-Type": "application/json", "Origin": harborlite.url}
        refused = browser.post("/api/v2.0/projects", content=body, headers=json_type)
        assert refused.status_code == 403
        assert "CSRF" in _error(refused)["message"]
        made = browser.post(
            "/api/v2.0/projects", content=body, headers={**json_type, "X-Harbor-CSRF-Token": csrf}
        )
        assert made.status_code == 201, made.text
        assert _exists(harborlite, name)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"},
        {"X-Requested-With": "XMLHttpRequest"},
        {"Origin": "http://127.0.0.1"},
        {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Sec-Fetch-Mode": "navigate"},
        {"Accept": "text/html"},
    ],
)
def test_the_apis_401_never_makes_a_browser_prompt(
    harborlite: Harborlite, headers: dict[str, str]
) -> None:
    anonymous = harborlite.api("GET", "/users/current", headers=headers)
    assert anonymous.status_code == 401
    assert "www-authenticate" not in anonymous.headers
    # (a name of nobody's: wrong passwords of the admin would lock the shared server's admin)
    wrong = harborlite.api(
        "GET", "/users/current", auth=(harborlite.unique("nobody"), "wrong"), headers=headers
    )
    assert wrong.status_code == 401
    assert "www-authenticate" not in wrong.headers


def test_cli_clients_still_get_the_basic_challenge(harborlite: Harborlite) -> None:
    anonymous = harborlite.api("GET", "/users/current", headers={"Accept": "application/json"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="harborlite"'
