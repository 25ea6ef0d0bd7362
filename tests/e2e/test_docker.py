"""The docker CLI against harborlite: the article's flow, the roles, the refusals, multi-arch.

Every test drives Debian's dockerd (one per pytest worker, ``tests.support.docker``) with a
docker CLI of its own (its own ``config.json``), on small ``FROM scratch`` images of random
layers. Each test uses layers of its own (its own seed), so docker's layer cache, shared by the
tests of a worker, never turns one test's "Pushed" into another's "Mounted from". The messages
docker prints are asserted exactly, and each refusal is checked against what is true: the
repository, the role, harborlite's access log (``reason=``) and its audit log.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.pushing import Pusher
from tests.e2e.conftest import PASSWORD, Team
from tests.harness import Harborlite
from tests.support.docker import DockerCli, Dockerd
from tests.support.polling import eventually

pytestmark = pytest.mark.both_databases

LAYERS = (6_000, 2_500)  # two small layers: docker tries one mount per layer at most
DENIED = "denied: requested access to the resource is denied"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DEVELOPER = 2  # role_id
_LAYER_LINE = re.compile(r"^([0-9a-f]{12}): (.+)$")


# --- helpers --------------------------------------------------------------------------------


def build(docker: DockerCli, tmp_path: Path, name: str, seed: int, **kw: Any) -> str:
    """A scratch image tagged ``local/NAME:v1`` with layers of its own; its image id."""
    return docker.build_scratch(
        tmp_path / f"ctx-{seed}", f"local/{name}:v1", LAYERS, seed=seed, **kw
    )


def layer_statuses(output: str) -> list[str]:
    """The last status docker printed for each layer of a push (in the order first seen)."""
    last: dict[str, str] = {}
    for line in output.splitlines():
        match = _LAYER_LINE.match(line.strip())
        if match:
            last[match.group(1)] = match.group(2)
    return list(last.values())


def pushed_digest(output: str, tag: str) -> str:
    """The digest of ``TAG: digest: sha256:... size: N``, the last line of a push."""
    match = re.search(
        rf"^{re.escape(tag)}: digest: (sha256:[0-9a-f]{{64}}) size: \d+$", output, re.M
    )
    assert match, output
    return match.group(1)


def push(docker: DockerCli, local: str, ref: str) -> str:
    """``docker tag`` + ``docker push``; docker's output."""
    docker.tag(local, ref)
    return docker.push(ref).stdout


def refused(run: subprocess.CompletedProcess[str]) -> str:
    """The stderr of a docker command that must fail."""
    assert run.returncode != 0, f"docker succeeded:\n{run.stdout}"
    return run.stderr


def access_lines(harborlite: Harborlite, pattern: str) -> list[str]:
    """Lines of harborlite's access log (``harborlite.access``) matching ``pattern``."""
    regex = re.compile(pattern)
    text = harborlite.log_path.read_text(errors="replace")
    return [
        line for line in text.splitlines() if "harborlite.access" in line and regex.search(line)
    ]


def refusal_logged(
    harborlite: Harborlite, method: str, path: str, status: int, user: str
) -> list[str]:
    """The access-log lines of a refused request: method, path, status, user and a reason."""
    pattern = rf"\b(?:{method}) {re.escape(path)} {status} .*\buser={re.escape(user)} .*\breason=\S"
    return list(
        eventually(
            lambda: access_lines(harborlite, pattern),
            f"a {method} {path} {status} line for {user} with reason= in {harborlite.log_path}",
        )
    )


def audit(harborlite: Harborlite, **query: str) -> list[dict[str, Any]]:
    """Audit entries as the admin sees them, filtered by ``q`` terms ``key=value``."""
    q = ",".join(f"{key}={value}" for key, value in query.items())
    answer = harborlite.api(
        "GET", "/audit-logs", auth=harborlite.admin, params={"q": q, "page_size": 100}
    )
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()
    return entries


def failures(harborlite: Harborlite, operation: str, **query: str) -> list[dict[str, Any]]:
    return [
        entry
        for entry in audit(harborlite, operation=operation, **query)
        if entry["success"] is False
    ]


def repository_of(resource: str) -> str:
    """The repository an audit entry names (without its ``:tag`` or ``@digest``)."""
    return resource.partition("@")[0].partition(":")[0]


def artifact(harborlite: Harborlite, repository: str, reference: str) -> httpx.Response:
    project, name = repository.split("/", 1)
    return harborlite.api(
        "GET",
        f"/projects/{project}/repositories/{name}/artifacts/{reference}",
        auth=harborlite.admin,
    )


def new_user(harborlite: Harborlite, prefix: str) -> tuple[str, str]:
    name = harborlite.unique(prefix)
    harborlite.create_user(name, PASSWORD)
    return name, PASSWORD


def cli(dockerd: Dockerd, tmp_path: Path, name: str) -> DockerCli:
    """A second docker CLI (another user's config.json) on the same daemon."""
    return dockerd.cli(tmp_path / f"docker-config-{name}")


# --- the article's flow ---------------------------------------------------------------------


def test_article_login_tag_push_rmi_pull(
    harborlite: Harborlite, docker: DockerCli, tmp_path: Path
) -> None:
    """`docker login` (password on stdin), `docker tag` + `push` into library, `docker rmi`,
    `docker pull`: the digest docker pushed is the one it pulls and the one harborlite shows."""
    host = harborlite.host
    name = harborlite.unique("busybox")
    repository = f"library/{name}"
    ref = f"{host}/{repository}:1.35.0"
    image_id = build(docker, tmp_path, name, seed=1001)

    login = docker.login(host, "admin", harborlite.admin_password)
    assert login.stdout.strip().splitlines()[-1] == "Login Succeeded"

    docker.tag(f"local/{name}:v1", ref)
    pushed = docker.push(ref).stdout
    assert pushed.splitlines()[0] == f"The push refers to repository [{host}/{repository}]"
    assert layer_statuses(pushed) == ["Pushed"] * len(LAYERS)
    digest = pushed_digest(pushed, "1.35.0")

    docker.rmi(ref, f"local/{name}:v1")
    assert not docker.has_image(ref)
    pulled = docker.pull(ref).stdout.splitlines()
    assert pulled[0] == f"1.35.0: Pulling from {repository}"
    assert f"Digest: {digest}" in pulled
    assert f"Status: Downloaded newer image for {ref}" in pulled
    assert pulled[-1] == ref

    assert docker.image_id(ref) == image_id
    assert docker.repo_digest(ref, f"{host}/{repository}") == digest
    shown = artifact(harborlite, repository, "1.35.0")
    assert shown.status_code == 200, shown.text
    assert shown.json()["digest"] == digest
    assert [tag["name"] for tag in shown.json()["tags"]] == ["1.35.0"]


def test_private_project_new_developer_pushes_and_pulls(
    harborlite: Harborlite, docker: DockerCli, tmp_path: Path
) -> None:
    project = harborlite.unique("private")
    harborlite.create_project(project, public=False)
    user, password = new_user(harborlite, "dev")
    harborlite.add_member(project, user, DEVELOPER)
    ref = f"{harborlite.host}/{project}/app:v1"
    image_id = build(docker, tmp_path, project, seed=1002)

    assert docker.login(harborlite.host, user, password).stdout.strip().endswith("Login Succeeded")
    pushed = push(docker, f"local/{project}:v1", ref)
    assert layer_statuses(pushed) == ["Pushed"] * len(LAYERS)
    digest = pushed_digest(pushed, "v1")
    docker.rmi(ref, f"local/{project}:v1")
    pulled = docker.pull(ref).stdout
    assert f"Digest: {digest}" in pulled.splitlines()
    assert docker.image_id(ref) == image_id
    assert docker.repo_digest(ref, f"{harborlite.host}/{project}/app") == digest
    pushes = [e for e in audit(harborlite, username=user, operation="push") if e["success"]]
    assert [e["resource"] for e in pushes] == [f"{project}/app:v1"]
    eventually(
        lambda: [e for e in audit(harborlite, username=user, operation="pull") if e["success"]],
        f"a pull audited for {user}",
    )


# --- refusals -------------------------------------------------------------------------------


def test_guest_pulls_and_is_refused_a_push(
    harborlite: Harborlite, team: Team, dockerd: Dockerd, docker: DockerCli, tmp_path: Path
) -> None:
    host = harborlite.host
    name = harborlite.unique("guestread")
    ref = f"{host}/{team.project}/{name}:v1"
    image_id = build(docker, tmp_path, name, seed=1003)
    docker.login(host, *team.creds("developer"))
    digest = pushed_digest(push(docker, f"local/{name}:v1", ref), "v1")

    guest = cli(dockerd, tmp_path, "guest")
    guest.login(host, *team.creds("guest"))
    docker.rmi(ref)
    assert f"Digest: {digest}" in guest.pull(ref).stdout.splitlines()
    assert guest.image_id(ref) == image_id

    target = f"{host}/{team.project}/{name}-by-guest:v1"
    guest.tag(ref, target)
    stderr = refused(guest.push(target, check=False))
    assert stderr == DENIED + "\n"
    # true: the guest may not push, so nothing was created
    gone = harborlite.api(
        "GET", f"/projects/{team.project}/repositories/{name}-by-guest", auth=harborlite.admin
    )
    assert gone.status_code == 404, gone.text
    guest_name = team.users["guest"]
    refusal_logged(
        harborlite, "POST", f"/v2/{team.project}/{name}-by-guest/blobs/uploads/", 401, guest_name
    )
    denied = eventually(
        lambda: failures(harborlite, "push", username=guest_name),
        f"a failed push audited for {guest_name}",
    )
    assert {repository_of(e["resource"]) for e in denied} == {f"{team.project}/{name}-by-guest"}


def test_non_member_and_anonymous_are_refused_a_pull(
    harborlite: Harborlite, team: Team, dockerd: Dockerd, docker: DockerCli, tmp_path: Path
) -> None:
    host = harborlite.host
    name = harborlite.unique("secret")
    repository = f"{team.project}/{name}"
    ref = f"{host}/{repository}:v1"
    build(docker, tmp_path, name, seed=1004)
    docker.login(host, *team.creds("developer"))
    push(docker, f"local/{name}:v1", ref)
    docker.rmi(ref)
    expected = (
        f"Error response from daemon: pull access denied for {host}/{repository}, repository "
        f"does not exist or may require 'docker login': {DENIED}\n"
    )

    outsider = cli(dockerd, tmp_path, "outsider")
    outsider.login(host, *team.creds("outsider"))
    assert refused(outsider.pull(ref, check=False)) == expected
    anonymous = cli(dockerd, tmp_path, "anonymous")
    assert refused(anonymous.pull(ref, check=False)) == expected
    assert not outsider.has_image(ref)

    # true: the repository exists (docker hedges with "does not exist or"), it is denied
    assert artifact(harborlite, repository, "v1").status_code == 200
    manifest = f"/v2/{repository}/manifests/v1"
    refusal_logged(harborlite, "HEAD|GET", manifest, 401, team.users["outsider"])
    refusal_logged(harborlite, "HEAD|GET", manifest, 401, "anonymous")
    outsider_failures = eventually(
        lambda: failures(harborlite, "pull", username=team.users["outsider"]),
        "a failed pull audited for the outsider",
    )
    assert {e["resource"] for e in outsider_failures} == {f"{repository}:v1"}
    anonymous_failures = eventually(
        lambda: failures(harborlite, "pull", resource=f"{repository}:v1"),
        "failed pulls audited for the repository",
    )
    users = {e["username"] for e in anonymous_failures}
    assert users - {team.users["outsider"]} <= {"", "anonymous"}
    assert len(users) == 2, users  # the outsider's and the anonymous client's


def test_anonymous_pull_of_a_public_project_after_logout(
    harborlite: Harborlite, team: Team, docker: DockerCli, tmp_path: Path
) -> None:
    host = harborlite.host
    name = harborlite.unique("open")
    repository = f"{team.public_project}/{name}"
    ref = f"{host}/{repository}:v1"
    image_id = build(docker, tmp_path, name, seed=1005)
    docker.login(host, *team.creds("developer"))
    digest = pushed_digest(push(docker, f"local/{name}:v1", ref), "v1")

    assert docker.logout(host).stdout.strip() == f"Removing login credentials for {host}"
    assert host not in dict(docker.config().get("auths") or {})  # type: ignore[call-overload]
    docker.rmi(ref, f"local/{name}:v1")
    assert f"Digest: {digest}" in docker.pull(ref).stdout.splitlines()
    assert docker.image_id(ref) == image_id
    # it was anonymous: harborlite served the manifest to no user
    eventually(
        lambda: access_lines(
            harborlite,
            rf"(?:HEAD|GET) /v2/{re.escape(repository)}/manifests/\S+ 200 .*user=anonymous ",
        ),
        "the manifest served to anonymous",
    )


def test_wrong_password_refused_at_login(harborlite: Harborlite, docker: DockerCli) -> None:
    user, _ = new_user(harborlite, "typo")
    stderr = refused(docker.login(harborlite.host, user, "not-" + PASSWORD, check=False))
    assert stderr == (
        f'Error response from daemon: Get "http://{harborlite.host}/v2/": '
        "unauthorized: invalid username/password\n"
    )
    assert docker.config().get("auths", {}) == {}
    failed = eventually(
        lambda: [
            e for e in audit(harborlite, username=user, operation="login") if not e["success"]
        ],
        f"a failed login audited for {user}",
    )
    assert len(failed) == 1


def test_missing_project_pull_says_not_found_and_push_says_create_it(
    harborlite: Harborlite, team: Team, docker: DockerCli, tmp_path: Path
) -> None:
    host = harborlite.host
    missing = harborlite.unique("nowhere")
    repository = f"{missing}/app"
    ref = f"{host}/{repository}:v1"
    docker.login(host, *team.creds("developer"))

    stderr = refused(docker.pull(ref, check=False))
    assert stderr == (
        f"Error response from daemon: repository {host}/{repository} not found: "
        f"name unknown: project {missing} not found\n"
    )
    assert "create it before pushing" not in stderr

    build(docker, tmp_path, missing, seed=1006)
    docker.tag(f"local/{missing}:v1", ref)
    stderr = refused(docker.push(ref, check=False))
    assert stderr == (
        f"name unknown: project {missing} not found: create it before pushing to {repository}\n"
    )

    developer = team.users["developer"]
    refusal_logged(harborlite, "HEAD|GET", f"/v2/{repository}/manifests/v1", 404, developer)
    refusal_logged(harborlite, "POST", f"/v2/{repository}/blobs/uploads/", 404, developer)
    for operation in ("pull", "push"):
        denied = eventually(
            lambda: failures(harborlite, operation, username=developer),  # noqa: B023
            f"a failed {operation} audited for {developer}",
        )
        assert {repository_of(e["resource"]) for e in denied} == {repository}, denied


# --- multi-arch -----------------------------------------------------------------------------


def test_manifest_list_pulled_per_platform(
    harborlite: Harborlite, team: Team, docker: DockerCli, tmp_path: Path
) -> None:
    host = harborlite.host
    name = harborlite.unique("multi")
    repository = f"{team.project}/{name}"
    docker.login(host, *team.creds("developer"))
    images: dict[str, str] = {}  # architecture -> image id
    digests: dict[str, str] = {}  # architecture -> manifest digest
    for seed, arch in ((1007, "amd64"), (1008, "arm64")):
        local = f"{name}-{arch}"
        images[arch] = build(docker, tmp_path, local, seed=seed, platform=f"linux/{arch}")
        assert docker.inspect(f"local/{local}:v1")["Architecture"] == arch
        digests[arch] = pushed_digest(
            push(docker, f"local/{local}:v1", f"{host}/{repository}:{arch}"), arch
        )

    listed = f"{host}/{repository}:list"
    created = docker.run(
        "manifest",
        "create",
        "--insecure",
        listed,
        f"{host}/{repository}:amd64",
        f"{host}/{repository}:arm64",
    )
    assert created.stdout.strip() == f"Created manifest list {listed}"
    list_digest = docker.run("manifest", "push", "--insecure", listed).stdout.strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", list_digest), list_digest

    for arch in ("amd64", "arm64"):
        docker.rmi(f"{host}/{repository}:{arch}", f"local/{name}-{arch}:v1")
    for arch in ("arm64", "amd64"):
        pulled = docker.pull(listed, platform=f"linux/{arch}").stdout.splitlines()
        assert f"Digest: {list_digest}" in pulled
        inspected = docker.inspect(listed)
        assert (inspected["Architecture"], inspected["Os"]) == (arch, "linux")
        assert inspected["Id"] == images[arch]
        assert docker.repo_digest(listed, f"{host}/{repository}") == list_digest
        docker.rmi(listed)  # docker keeps one image per digest reference: free it for the next

    shown = artifact(harborlite, repository, "list")
    assert shown.status_code == 200, shown.text
    index = shown.json()
    assert index["digest"] == list_digest
    assert index["manifest_media_type"] == MANIFEST_LIST
    assert {
        ref["platform"]["architecture"]: ref["child_digest"] for ref in index["references"]
    } == digests
    assert {ref["platform"]["os"] for ref in index["references"]} == {"linux"}


# --- layers: already there, mounted, a mount refused ----------------------------------------


def test_second_push_layer_already_exists_and_mount_from_a_readable_repository(
    harborlite: Harborlite, team: Team, docker: DockerCli, tmp_path: Path
) -> None:
    host = harborlite.host
    name = harborlite.unique("layers")
    first = f"{team.project}/{name}"
    second = f"{team.public_project}/{name}-copy"
    build(docker, tmp_path, name, seed=1009)
    docker.login(host, *team.creds("developer"))
    local = f"local/{name}:v1"

    once = push(docker, local, f"{host}/{first}:v1")
    assert layer_statuses(once) == ["Pushed"] * len(LAYERS)
    again = docker.push(f"{host}/{first}:v1").stdout
    assert layer_statuses(again) == ["Layer already exists"] * len(LAYERS)
    assert pushed_digest(again, "v1") == pushed_digest(once, "v1")

    mounted = push(docker, local, f"{host}/{second}:v1")
    assert layer_statuses(mounted) == [f"Mounted from {first}"] * len(LAYERS)
    assert pushed_digest(mounted, "v1") == pushed_digest(once, "v1")
    shown = artifact(harborlite, second, "v1")
    assert shown.status_code == 200 and shown.json()["digest"] == pushed_digest(once, "v1")


def test_refused_cross_project_mount_falls_back_to_upload(
    harborlite: Harborlite, docker: DockerCli, tmp_path: Path
) -> None:
    """docker mounts from repositories it pushed with the same login: a Developer of A and B
    pushes to B, loses B, then pushes the same image to A. The mount from B is refused (and
    logged, naming B's repository), docker uploads instead, the push succeeds."""
    host = harborlite.host
    project_a, project_b = harborlite.unique("mnta"), harborlite.unique("mntb")
    user, password = new_user(harborlite, "mover")
    for project in (project_a, project_b):
        harborlite.create_project(project, public=False)
        harborlite.add_member(project, user, DEVELOPER)
    build(docker, tmp_path, project_a, seed=1010)
    local = f"local/{project_a}:v1"
    docker.login(host, user, password)
    assert layer_statuses(push(docker, local, f"{host}/{project_b}/r:v1")) == ["Pushed"] * 2

    members = harborlite.api(
        "GET", f"/projects/{project_b}/members", auth=harborlite.admin, params={"entityname": user}
    ).json()
    assert [m["entity_name"] for m in members] == [user]
    removed = harborlite.api(
        "DELETE", f"/projects/{project_b}/members/{members[0]['id']}", auth=harborlite.admin
    )
    assert removed.status_code == 200, removed.text

    pushed = push(docker, local, f"{host}/{project_a}/r:v1")
    assert layer_statuses(pushed) == ["Pushed"] * len(LAYERS)
    assert artifact(harborlite, f"{project_a}/r", "v1").status_code == 200
    lines = refusal_logged(harborlite, "POST", f"/v2/{project_a}/r/blobs/uploads/", 401, user)
    assert len(lines) == len(LAYERS), lines  # one mount tried per layer, each refused
    assert all(f"{project_b}/r" in line.partition("reason=")[2] for line in lines), lines
    denied = eventually(
        lambda: [e for e in audit(harborlite, username=user) if e["success"] is False],
        f"a failed entry audited for {user}",
    )
    assert {e["operation"] for e in denied} <= {"push", "pull"}, denied
    assert {repository_of(e["resource"]) for e in denied} <= {
        f"{project_a}/r",
        f"{project_b}/r",
    }, denied


def test_refused_mount_challenge_names_both_scopes(harborlite: Harborlite, team: Team) -> None:
    """The raw protocol: a token for A only, a mount from B/r it cannot read: 401 whose
    challenge asks for both scopes, and a token asked from that challenge by someone who can
    read B covers the mount."""
    source_project = harborlite.unique("src")
    harborlite.create_project(source_project, public=False)
    source = f"{source_project}/r"
    target = f"{team.project}/r{harborlite.unique('m')}"
    with Pusher(harborlite) as pusher:
        manifest = pusher.image(source, "v1", seed=source).manifest
    digest = json.loads(manifest)["layers"][0]["digest"]
    developer = team.creds("developer")
    token = harborlite.token(f"repository:{target}:pull,push", developer)
    path = f"/v2/{target}/blobs/uploads/"
    params = {"mount": digest, "from": source}
    with harborlite.client() as client:
        answer = client.post(path, params=params, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401, answer.text
    scope = f"repository:{target}:pull,push repository:{source}:pull"
    assert answer.headers["WWW-Authenticate"] == (
        f'Bearer realm="{harborlite.url}/service/token",service="harbor-registry",'
        f'scope="{scope}",error="insufficient_scope"'
    )
    error = answer.json()["errors"][0]
    assert error["code"] == "UNAUTHORIZED"
    assert source in error["message"], error
    refusal_logged(harborlite, "POST", path, 401, developer[0])

    # the challenge's scopes, asked as they are: the developer still may not read the source,
    # the admin may, and the admin's token mounts
    scopes = scope.split(" ")
    for creds, status in ((developer, 401), (harborlite.admin, 201)):
        token = harborlite.token(scopes, creds)
        with harborlite.client() as client:
            answer = client.post(path, params=params, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == status, answer.text
    assert answer.headers["Docker-Content-Digest"] == digest
