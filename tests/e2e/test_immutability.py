"""Tag immutability with real clients: skopeo and docker push a tag, a rule makes it immutable,
and then another image under it is refused with Harbor's sentence (what each client prints is
asserted), the identical image again is accepted, a delete is refused, and the rule disabled
lets all of it through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.harness import Harborlite
from tests.support.clients import ContainersHome, skopeo_copy, skopeo_delete, skopeo_inspect
from tests.support.docker import DockerCli
from tests.support.images import build_oci_layout

pytestmark = [pytest.mark.e2e, pytest.mark.both_databases]

LAYERS = (7_000, 3_000)
REFUSED = "Failed to process request due to '{}' configured as immutable."


def frozen_tags(
    harborlite: Harborlite, project: str, tags: str = "v*", repositories: str = "**"
) -> tuple[str, dict[str, Any]]:
    """A rule making ``tags`` of ``repositories`` immutable; its path and body."""
    body: dict[str, Any] = {
        "action": "immutable",
        "template": "immutable_template",
        "disabled": False,
        "scope_selectors": {
            "repository": [
                {"kind": "doublestar", "decoration": "repoMatches", "pattern": repositories}
            ]
        },
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": tags}],
    }
    path = f"/projects/{project}/immutabletagrules"
    created = harborlite.api("POST", path, auth=harborlite.admin, json=body)
    assert created.status_code == 201, created.text
    return created.headers["Location"].removeprefix("/api/v2.0"), body


def disable(harborlite: Harborlite, rule: str, body: dict[str, Any]) -> None:
    changed = harborlite.api("PUT", rule, auth=harborlite.admin, json={**body, "disabled": True})
    assert changed.status_code == 200, changed.text


def digest_of_tag(harborlite: Harborlite, repository: str, tag: str) -> str:
    project, name = repository.split("/", 1)
    shown = harborlite.api(
        "GET",
        f"/projects/{project}/repositories/{name.replace('/', '%252F')}/artifacts/{tag}",
        auth=harborlite.admin,
    )
    assert shown.status_code == 200, shown.text
    return str(shown.json()["digest"])


def test_skopeo_cannot_move_or_delete_an_immutable_tag(
    harborlite: Harborlite, tmp_path: Path
) -> None:
    project = harborlite.unique("skimmu")
    harborlite.create_project(project)
    repository = f"{project}/team/app"
    target = f"docker://{harborlite.host}/{repository}:v1.0"
    layout = tmp_path / "layout"
    first = build_oci_layout(layout, "first", list(LAYERS), seed=71)
    second = build_oci_layout(layout, "second", list(LAYERS), seed=72)
    home = ContainersHome(tmp_path / "home")
    creds = harborlite.admin

    skopeo_copy(f"oci:{layout}:first", target, creds=creds, home=home)
    rule, body = frozen_tags(harborlite, project, "v*", "team/**")

    moved = skopeo_copy(f"oci:{layout}:second", target, creds=creds, home=home, check=False)
    assert moved.returncode != 0, moved.stdout
    said = f"uploading manifest v1.0 to {harborlite.host}/{repository}: unknown: "
    assert said + REFUSED.format("team/app:v1.0") in moved.stderr, moved.stderr
    assert digest_of_tag(harborlite, repository, "v1.0") == first.manifest_digest

    # the identical image again: accepted, nothing changes
    skopeo_copy(f"oci:{layout}:first", target, creds=creds, home=home)
    assert digest_of_tag(harborlite, repository, "v1.0") == first.manifest_digest
    # a new tag the rule selects: pushed once
    skopeo_copy(f"oci:{layout}:second", target.replace("v1.0", "v2.0"), creds=creds, home=home)

    deleted = skopeo_delete(target, creds=creds, home=home, check=False)
    assert deleted.returncode != 0, deleted.stdout
    assert '\\"code\\":\\"PRECONDITION\\"' in deleted.stderr, deleted.stderr
    assert REFUSED.format("team/app:v1.0") in deleted.stderr
    assert "(412 Precondition Failed)" in deleted.stderr
    inspected = skopeo_inspect(target, creds=creds, home=home, raw=True)
    assert inspected.stdout.encode() == first.manifest

    disable(harborlite, rule, body)
    skopeo_copy(f"oci:{layout}:second", target, creds=creds, home=home)
    assert digest_of_tag(harborlite, repository, "v1.0") == second.manifest_digest
    skopeo_delete(target, creds=creds, home=home)
    assert skopeo_inspect(target, creds=creds, home=home, check=False).returncode != 0


def test_docker_cannot_move_an_immutable_tag_but_may_push_it_again(
    harborlite: Harborlite, docker: DockerCli, tmp_path: Path
) -> None:
    host = harborlite.host
    project = harborlite.unique("dkimmu")
    harborlite.create_project(project)
    repository = f"{project}/app"
    ref = f"{host}/{repository}:1.0"
    docker.build_scratch(tmp_path / "a", "local/immu-a:v1", LAYERS, seed=2101)
    docker.build_scratch(tmp_path / "b", "local/immu-b:v1", LAYERS, seed=2102)
    docker.login(host, "admin", harborlite.admin_password)

    docker.tag("local/immu-a:v1", ref)
    docker.push(ref)
    first = digest_of_tag(harborlite, repository, "1.0")
    rule, body = frozen_tags(harborlite, project, "*.*")

    docker.tag("local/immu-b:v1", ref)
    moved = docker.push(ref, check=False)
    assert moved.returncode != 0, moved.stdout
    # what docker prints: the registry's code, lower case, and Harbor's message
    assert moved.stderr.strip().splitlines()[-1] == ("unknown: " + REFUSED.format("app:1.0")), (
        moved.stderr
    )
    assert digest_of_tag(harborlite, repository, "1.0") == first

    docker.tag("local/immu-a:v1", ref)  # the same image again: a retried CI job
    again = docker.push(ref)
    assert f"1.0: digest: {first} size:" in again.stdout, again.stdout

    disable(harborlite, rule, body)
    docker.tag("local/immu-b:v1", ref)
    docker.push(ref)
    assert digest_of_tag(harborlite, repository, "1.0") != first
