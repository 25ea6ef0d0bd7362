"""Robot accounts with real clients: a project robot pushes with docker and skopeo and pulls
with containerd's CRI image service as a Kubernetes node would; a robot without push is
refused one; a system robot for all projects works in a project made after it; an expired,
disabled, deleted or refreshed robot is refused, and tokens it held before die at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.api.pushing import OCI_MANIFEST, Pusher
from tests.harness import Harborlite
from tests.portal.conftest import csrf_of
from tests.support.clients import skopeo_copy
from tests.support.cri import CriError, CriImageClient
from tests.support.docker import DockerCli
from tests.support.images import build_oci_layout
from tests.support.processes import Containerd

pytestmark = pytest.mark.both_databases

PUSH_PULL = [
    {"resource": "repository", "action": "push"},
    {"resource": "repository", "action": "pull"},
]
PULL = [{"resource": "repository", "action": "pull"}]


def create_robot(
    harborlite: Harborlite,
    name: str,
    permissions: list[dict[str, Any]],
    *,
    level: str = "project",
    duration: int = -1,
) -> dict[str, Any]:
    response = harborlite.api(
        "POST",
        "/robots",
        auth=harborlite.admin,
        json={
            "name": name,
            "description": "e2e",
            "level": level,
            "duration": duration,
            "disable": False,
            "permissions": permissions,
        },
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert created["secret"]
    return created


def project_robot(harborlite: Harborlite, project: str, access: list[dict[str, str]]) -> Any:
    name = harborlite.unique("bot")
    permissions = [{"kind": "project", "namespace": project, "access": access}]
    return create_robot(harborlite, name, permissions)


@pytest.fixture
def project(harborlite: Harborlite) -> str:
    name = harborlite.unique("robots")
    harborlite.create_project(name, public=False)
    return name


def pull(harborlite: Harborlite, token: str, repository: str) -> httpx.Response:
    return httpx.get(
        f"{harborlite.url}/v2/{repository}/manifests/v1",
        headers={"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST},
        timeout=30,
    )


@pytest.fixture
def cri(tmp_path: Path) -> Iterator[CriImageClient]:
    with Containerd(tmp_path / "containerd", cri=True) as containerd:
        yield CriImageClient(containerd.socket, log_path=containerd.log_path)


def test_a_project_robot_pushes_with_docker_and_skopeo_and_a_node_pulls(
    harborlite: Harborlite, project: str, docker: DockerCli, cri: CriImageClient, tmp_path: Path
) -> None:
    robot = project_robot(harborlite, project, PUSH_PULL)
    name, secret = robot["name"], robot["secret"]
    assert name == f"robot${project}+{name.split('+', 1)[1]}"
    login = docker.login(harborlite.host, name, secret)
    assert "Login Succeeded" in login.stdout
    ref = f"{harborlite.host}/{project}/app:v1"
    docker.build_scratch(tmp_path / "context", ref, [4096], seed=3101)
    pushed = docker.push(ref).stdout
    digest = pushed.strip().splitlines()[-1].split()[2]

    layout = tmp_path / "layout"
    build_oci_layout(layout, "v1", [2048], seed=3102)
    skopeo_copy(
        f"oci:{layout}:v1", f"docker://{harborlite.host}/{project}/tool:v1", creds=(name, secret)
    )

    cri.pull_image(ref, creds=(name, secret))  # kubelet hands the pull secret's credentials
    status = cri.image_status(ref)
    assert status is not None and f"{harborlite.host}/{project}/app@{digest}" in status.repo_digests

    wanted = {("push", name), ("pull", name)}
    deadline = time.monotonic() + 10  # pulls are written in batches, about every half second
    while True:
        logs = harborlite.api(
            "GET", "/audit-logs", auth=harborlite.admin, params={"q": f"resource=~{project}/"}
        ).json()
        seen = {(e["operation"], e["username"]) for e in logs}
        if seen >= wanted or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert seen >= wanted
    shown = harborlite.api("GET", f"/robots/{robot['id']}", auth=harborlite.admin).json()
    assert shown["last_used"]  # the portal shows it too


def test_a_pull_only_robot_is_refused_a_push(
    harborlite: Harborlite, project: str, docker: DockerCli, tmp_path: Path
) -> None:
    robot = project_robot(harborlite, project, PULL)
    docker.login(harborlite.host, robot["name"], robot["secret"])
    ref = f"{harborlite.host}/{project}/nope:v1"
    docker.build_scratch(tmp_path / "context", ref, [1024], seed=3103)
    refused = docker.push(ref, check=False)
    assert refused.returncode != 0
    assert "denied: requested access to the resource is denied" in refused.stderr
    other = harborlite.unique("elsewhere")
    harborlite.create_project(other, public=False)
    with Pusher(harborlite) as pusher:
        pusher.image(f"{other}/app", "v1")
    token = harborlite.token(f"repository:{other}/app:pull", (robot["name"], robot["secret"]))
    assert pull(harborlite, token, f"{other}/app").status_code == 401  # not its project


def test_a_system_robot_for_every_project_reaches_one_made_after_it(
    harborlite: Harborlite, project: str
) -> None:
    robot = create_robot(
        harborlite,
        harborlite.unique("fleet"),
        [{"kind": "project", "namespace": "*", "access": PULL}],
        level="system",
    )
    assert robot["name"].startswith("robot$") and "+" not in robot["name"]
    later = harborlite.unique("later")
    harborlite.create_project(later, public=False)
    creds = (robot["name"], robot["secret"])
    for name in (project, later):
        with Pusher(harborlite) as pusher:
            pusher.image(f"{name}/app", "v1")
        token = harborlite.token(f"repository:{name}/app:pull,push", creds)
        assert pull(harborlite, token, f"{name}/app").status_code == 200
        push = httpx.post(
            f"{harborlite.url}/v2/{name}/app/blobs/uploads/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert push.status_code == 401  # pull only


def test_a_system_robot_for_two_named_projects(harborlite: Harborlite, project: str) -> None:
    second = harborlite.unique("second")
    third = harborlite.unique("third")
    for name in (second, third):
        harborlite.create_project(name, public=False)
    robot = create_robot(
        harborlite,
        harborlite.unique("pair"),
        [{"kind": "project", "namespace": n, "access": PUSH_PULL} for n in (project, second)],
        level="system",
    )
    creds = (robot["name"], robot["secret"])
    for name, allowed in ((project, True), (second, True), (third, False)):
        with Pusher(harborlite, creds if allowed else None) as pusher:
            if allowed:
                pusher.image(f"{name}/app", "v1")  # pushes with the robot's token
        if not allowed:
            token = harborlite.token(f"repository:{name}/app:pull,push", creds)
            answer = httpx.post(
                f"{harborlite.url}/v2/{name}/app/blobs/uploads/",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert answer.status_code == 401


def set_expired(harborlite: Harborlite, robot_id: int) -> None:
    """Time passing: the robot's expiry moved into the past, in harborlite's own database."""
    url = harborlite.database_url
    if url == "sqlite":
        url = f"sqlite+aiosqlite:///{harborlite.data_dir / 'harborlite.db'}"

    async def expire() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE robots SET expires_at = :at WHERE id = :id"),
                {"at": int(time.time()) - 1, "id": robot_id},
            )
        await engine.dispose()

    asyncio.run(expire())


@pytest.mark.parametrize("change", ["disabled", "deleted", "refreshed", "expired"])
def test_a_changed_robot_is_refused_and_its_tokens_die(
    harborlite: Harborlite, project: str, change: str
) -> None:
    with Pusher(harborlite) as pusher:
        pusher.image(f"{project}/app", "v1")
    robot = project_robot(harborlite, project, PULL)
    creds = (robot["name"], robot["secret"])
    token = harborlite.token(f"repository:{project}/app:pull", creds)
    assert pull(harborlite, token, f"{project}/app").status_code == 200
    path = f"/robots/{robot['id']}"
    if change == "disabled":
        current = harborlite.api("GET", path, auth=harborlite.admin).json()
        answer = harborlite.api(
            "PUT", path, auth=harborlite.admin, json={**current, "disable": True}
        )
    elif change == "deleted":
        answer = harborlite.api("DELETE", path, auth=harborlite.admin)
    elif change == "refreshed":
        answer = harborlite.api("PATCH", path, auth=harborlite.admin, json={"secret": ""})
    else:
        set_expired(harborlite, robot["id"])
        answer = httpx.Response(200)
    assert answer.status_code == 200, answer.text
    refused = httpx.get(
        f"{harborlite.url}/service/token",
        params={"service": "harbor-registry", "scope": f"repository:{project}/app:pull"},
        auth=creds,
        timeout=30,
    )
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["message"] == "invalid username/password"
    if change == "expired":  # its tokens were cut to end with it
        return
    answer = pull(harborlite, token, f"{project}/app")
    assert answer.status_code == 401
    assert "token revoked" in answer.json()["errors"][0]["message"]
    if change == "refreshed":
        secret = harborlite.api("GET", path, auth=harborlite.admin).json()["secret"]
        assert secret == ""  # never shown again


def test_a_refreshed_secret_works_and_the_old_one_does_not(
    harborlite: Harborlite, project: str, cri: CriImageClient, docker: DockerCli, tmp_path: Path
) -> None:
    robot = project_robot(harborlite, project, PUSH_PULL)
    path = f"/robots/{robot['id']}"
    refreshed = harborlite.api("PATCH", path, auth=harborlite.admin, json={"secret": ""})
    assert refreshed.status_code == 200, refreshed.text
    new_secret = refreshed.json()["secret"]
    assert new_secret and new_secret != robot["secret"]
    old = docker.login(harborlite.host, robot["name"], robot["secret"], check=False)
    assert old.returncode != 0 and "unauthorized: invalid username/password" in old.stderr
    docker.login(harborlite.host, robot["name"], new_secret)
    ref = f"{harborlite.host}/{project}/fresh:v1"
    docker.build_scratch(tmp_path / "context", ref, [1024], seed=3104)
    docker.push(ref)
    with pytest.raises(CriError):
        cri.pull_image(ref, creds=(robot["name"], robot["secret"]))
    cri.pull_image(ref, creds=(robot["name"], new_secret))


def test_a_robot_never_logs_in_to_the_portal(harborlite: Harborlite, project: str) -> None:
    robot = project_robot(harborlite, project, PULL)
    with httpx.Client(base_url=harborlite.url, timeout=30, follow_redirects=False) as client:
        csrf = csrf_of(client.get("/login").text)
        answer = client.post(
            "/login",
            data={"username": robot["name"], "password": robot["secret"], "csrf_token": csrf},
        )
    assert answer.status_code == 401
    assert "Invalid user name or password." in answer.text


def test_a_robot_that_creates_a_project_may_use_it(harborlite: Harborlite) -> None:
    """Harbor gives a robot nothing on the project it creates (#23985); here it is that
    project's admin: it pushes there at once, and no other project opens to it."""
    robot = create_robot(
        harborlite,
        harborlite.unique("maker"),
        [
            {
                "kind": "system",
                "namespace": "/",
                "access": [{"resource": "project", "action": "create"}],
            }
        ],
        level="system",
    )
    creds = (robot["name"], robot["secret"])
    name = harborlite.unique("byrobot")
    made = harborlite.api(
        "POST",
        "/projects",
        auth=creds,
        json={"project_name": name, "metadata": {"public": "false"}},
    )
    assert made.status_code == 201, made.text
    with Pusher(harborlite, creds) as pusher:
        pusher.image(f"{name}/app", "v1")
    token = harborlite.token(f"repository:{name}/app:pull,push,delete", creds)
    assert pull(harborlite, token, f"{name}/app").status_code == 200
    logs = harborlite.api(
        "GET", "/audit-logs", auth=harborlite.admin, params={"q": f"resource={name}"}
    ).json()
    assert [(e["operation"], e["username"]) for e in logs] == [("create", robot["name"])]
    other = harborlite.token("repository:library/app:push", creds)
    upload = httpx.post(
        f"{harborlite.url}/v2/library/app/blobs/uploads/",
        headers={"Authorization": f"Bearer {other}"},
        timeout=30,
    )
    assert upload.status_code == 401
