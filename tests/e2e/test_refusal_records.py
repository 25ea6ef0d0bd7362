"""What a refused ``/v2/`` request leaves behind and says: an access-log line with the reason,
an audit entry for the refusals that matter, the truth about a missing project, and a mount
challenge that names both scopes (with httpx, the protocol itself; docker: test_docker.py)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tests.api.pushing import Pusher
from tests.e2e.conftest import Team
from tests.harness import Harborlite

pytestmark = pytest.mark.both_databases


def request(
    harborlite: Harborlite, method: str, path: str, token: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{harborlite.url}{path}", headers=headers, timeout=30)


def access_line(harborlite: Harborlite, method: str, path: str, needle: str = "") -> str:
    """The last access-log line of ``method path`` that holds ``needle``: the line is written
    once the answer is out, so it may follow the answer by a moment."""
    pattern = re.compile(rf"harborlite\.access: {method} {re.escape(path)} .*")
    deadline = time.monotonic() + 5
    while True:
        found = [
            line
            for line in pattern.findall(harborlite.log_path.read_text(errors="replace"))
            if needle in line
        ]
        if found or time.monotonic() > deadline:
            assert found, f"no access line for {method} {path} with {needle!r}:\n{harborlite.log()}"
            return str(found[-1])
        time.sleep(0.05)


def failures(harborlite: Harborlite, resource: str) -> list[dict[str, Any]]:
    response = harborlite.api(
        "GET", "/audit-logs", auth=harborlite.admin, params={"q": f"resource=~{resource}"}
    )
    assert response.status_code == 200, response.text
    return [entry for entry in response.json() if not entry["success"]]


def test_a_pull_from_a_missing_project_is_not_told_to_create_it(harborlite: Harborlite) -> None:
    project = harborlite.unique("ghost")
    token = harborlite.token(f"repository:{project}/app:pull", harborlite.admin)
    pulled = request(harborlite, "GET", f"/v2/{project}/app/manifests/v1", token)
    assert pulled.status_code == 404
    error = pulled.json()["errors"][0]
    assert error["code"] == "NAME_UNKNOWN"
    assert error["message"] == f"project {project} not found"
    token = harborlite.token(f"repository:{project}/app:pull,push", harborlite.admin)
    pushed = request(harborlite, "POST", f"/v2/{project}/app/blobs/uploads/", token)
    assert pushed.status_code == 404
    assert pushed.json()["errors"][0]["message"] == (
        f"project {project} not found: create it before pushing to {project}/app"
    )
    line = access_line(harborlite, "POST", f"/v2/{project}/app/blobs/uploads/")
    assert " 404 " in line and "user=admin via=refused" in line
    assert f'reason="project {project} not found: create it' in line
    entries = failures(harborlite, f"{project}/app")
    assert {(e["operation"], e["username"], e["detail"]) for e in entries} == {
        ("pull", "admin", f"project {project} not found"),
        ("push", "admin", f"project {project} not found"),
    }


def test_denied_pull_and_push_are_logged_and_audited(harborlite: Harborlite, team: Team) -> None:
    repository = f"{team.project}/{harborlite.unique('guarded')}"
    guest, outsider = team.creds("guest"), team.creds("outsider")
    token = harborlite.token(f"repository:{repository}:pull,push", guest)  # pull only
    pushed = request(harborlite, "PUT", f"/v2/{repository}/manifests/v1", token)
    assert pushed.status_code == 401
    assert 'error="insufficient_scope"' in pushed.headers["www-authenticate"]
    line = access_line(harborlite, "PUT", f"/v2/{repository}/manifests/v1")
    assert " 401 " in line and f"user={guest[0]} via=refused" in line
    assert f'reason="denied: pull,push on {repository} (as {guest[0]})"' in line

    token = harborlite.token(f"repository:{repository}:pull", outsider)  # nothing
    pulled = request(harborlite, "GET", f"/v2/{repository}/manifests/v1", token)
    assert pulled.status_code == 401
    token = harborlite.token(f"repository:{repository}:pull", None)  # anonymous: nothing
    anonymous = request(harborlite, "HEAD", f"/v2/{repository}/manifests/v1", token)
    assert anonymous.status_code == 401
    line = access_line(harborlite, "HEAD", f"/v2/{repository}/manifests/v1")
    assert "user=anonymous via=refused" in line and "(as anonymous)" in line

    entries = failures(harborlite, repository)
    assert sorted((e["operation"], e["username"]) for e in entries) == sorted(
        [("push", guest[0]), ("pull", outsider[0]), ("pull", "anonymous")]
    )
    assert all(e["resource"] == f"{repository}:v1" for e in entries)
    assert all(e["resource_type"] == "repository" for e in entries)


def test_challenges_and_bad_requests_are_logged_not_audited(harborlite: Harborlite) -> None:
    repository = f"library/{harborlite.unique('quiet')}"
    challenged = request(harborlite, "GET", f"/v2/{repository}/tags/list")
    assert challenged.status_code == 401  # the first step of every client: no audit entry
    line = access_line(harborlite, "GET", f"/v2/{repository}/tags/list", "no bearer token")
    assert "user=anonymous via=refused" in line and " 401 " in line
    forged = request(harborlite, "GET", f"/v2/{repository}/tags/list", "not-a-token")
    assert forged.status_code == 401
    assert " 401 " in access_line(
        harborlite, "GET", f"/v2/{repository}/tags/list", 'reason="invalid token'
    )
    nowhere = request(harborlite, "GET", f"/v2/{repository}/nowhere")
    assert nowhere.status_code == 404
    assert " 404 " in access_line(
        harborlite, "GET", f"/v2/{repository}/nowhere", 'reason="no such registry endpoint"'
    )
    assert failures(harborlite, repository) == []
    base = request(harborlite, "GET", "/v2/", harborlite.token(None, harborlite.admin))
    assert base.status_code == 200
    assert " 200 " in access_line(harborlite, "GET", "/v2/", "user=admin via=harborlite")


def test_a_mount_challenge_names_both_scopes_and_a_token_from_it_mounts(
    harborlite: Harborlite, team: Team
) -> None:
    """Distribution's protocol: a client asks the token service for what the challenge names.
    The destination's scope alone can never cover the mount's source."""
    source = f"{team.public_project}/{harborlite.unique('src')}"
    target = f"{team.project}/{harborlite.unique('dst')}"
    with Pusher(harborlite) as pusher:
        pushed = pusher.image(source, "v1")
    layer = next(
        d
        for d in re.findall(r"sha256:[0-9a-f]{64}", pushed.manifest.decode())
        if d != pushed.digest
    )
    path = f"/v2/{target}/blobs/uploads/?mount={layer}&from={source}"
    both = f'scope="repository:{target}:pull,push repository:{source}:pull"'

    challenged = request(harborlite, "POST", path)
    assert challenged.status_code == 401
    assert both in challenged.headers["www-authenticate"]

    # a Developer of the target who cannot read the source (a private project of its own)
    private = harborlite.unique("closed")
    harborlite.create_project(private, public=False)
    hidden = f"{private}/{harborlite.unique('src')}"
    with Pusher(harborlite) as pusher:
        pusher.image(hidden, "v1")
    developer = team.creds("developer")
    token = harborlite.token(
        [f"repository:{target}:pull,push", f"repository:{hidden}:pull"], developer
    )
    hidden_path = f"/v2/{target}/blobs/uploads/?mount={layer}&from={hidden}"
    refused = request(harborlite, "POST", hidden_path, token)
    assert refused.status_code == 401
    www = refused.headers["www-authenticate"]
    assert f'scope="repository:{target}:pull,push repository:{hidden}:pull"' in www
    assert 'error="insufficient_scope"' in www
    message = refused.json()["errors"][0]["message"]
    assert message.startswith(f"unauthorized to access repository: {hidden}, action: pull")
    assert target in message
    line = access_line(harborlite, "POST", f"/v2/{target}/blobs/uploads/", "mount source")
    assert f'reason="denied: pull on {hidden}, the mount source (as {developer[0]})"' in line
    assert [e["operation"] for e in failures(harborlite, target)] == ["push"]

    # the token the first challenge asks for covers the mount: it happens
    token = harborlite.token(
        [f"repository:{target}:pull,push", f"repository:{source}:pull"], developer
    )
    mounted = request(harborlite, "POST", path, token)
    assert mounted.status_code == 201, mounted.text
    assert mounted.headers["docker-content-digest"] == layer
    assert request(harborlite, "HEAD", f"/v2/{target}/blobs/{layer}", token).status_code == 200
