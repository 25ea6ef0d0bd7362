"""Tag retention end to end with skopeo: a dry run lists exactly what the real run then deletes;
an immutable tag and a digest kept through another tag stay; what is kept pulls back byte for
byte, what is deleted is gone from the registry; each deletion is audited with the policy as
the actor."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Team
from tests.harness import Harborlite
from tests.support.clients import skopeo_copy, skopeo_inspect
from tests.support.images import BuiltImage, build_oci_layout

pytestmark = pytest.mark.both_databases


def selector(decoration: str, pattern: str, untagged: bool | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {"kind": "doublestar", "decoration": decoration, "pattern": pattern}
    if untagged is not None:
        shown["extras"] = json.dumps({"untagged": untagged})
    return shown


def keep(template: str, value: int | None, tags: str) -> dict[str, Any]:
    return {
        "action": "retain",
        "template": template,
        "params": {} if value is None else {template: value},
        "tag_selectors": [selector("matches", tags, untagged=False)],
        "scope_selectors": {"repository": [selector("repoMatches", "**")]},
    }


def finished(server: Harborlite, policy_id: int, execution_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        listed = server.api("GET", f"/retentions/{policy_id}/executions", auth=server.admin)
        run = next(e for e in listed.json() if e["id"] == execution_id)
        if run["status"] in ("Success", "Error", "Stopped"):
            return dict(run)
        time.sleep(0.25)
    raise AssertionError(f"retention run {execution_id} did not finish:\n{server.log()}")


def run(server: Harborlite, policy_id: int, dry_run: bool, auth: tuple[str, str]) -> str:
    """Run the policy; the log of its one task (the one repository)."""
    started = server.api(
        "POST", f"/retentions/{policy_id}/executions", auth=auth, json={"dry_run": dry_run}
    )
    assert started.status_code == 201, started.text
    execution_id = int(started.headers["Location"].rsplit("/", 1)[1])
    done = finished(server, policy_id, execution_id)
    assert done["status"] == "Success" and done["dry_run"] is dry_run, server.log()
    base = f"/retentions/{policy_id}/executions/{execution_id}/tasks"
    tasks = server.api("GET", base, auth=auth).json()
    assert [t["repository"] for t in tasks] == ["app"]
    log = server.api("GET", f"{base}/{tasks[0]['id']}", auth=auth)
    assert log.status_code == 200
    return log.text


def verdicts(log: str) -> dict[str, str]:
    found = {}
    for line in log.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if cells and cells[0].startswith("sha256:"):
            found[cells[0]] = cells[-1]
    return found


def tags_in_index(server: Harborlite, project: str) -> dict[str, list[str]]:
    listed = server.api(
        "GET",
        f"/projects/{project}/repositories/app/artifacts",
        auth=server.admin,
        params={"with_tag": "true", "page_size": 100},
    )
    assert listed.status_code == 200, listed.text
    return {a["digest"]: sorted(t["name"] for t in a.get("tags") or []) for a in listed.json()}


def test_dry_run_then_real_run_delete_exactly_what_no_rule_keeps(
    harborlite: Harborlite, team: Team, tmp_path: Path
) -> None:
    server = harborlite
    project = server.unique("retain")
    project_id = server.create_project(project)
    server.add_member(project, team.users["developer"], 2)
    developer = team.creds("developer")
    built: dict[str, BuiltImage] = {}
    for seed, tag in enumerate(("v1", "v2", "v3", "v4", "v5", "dev")):
        layout = tmp_path / f"layout-{tag}"
        built[tag] = build_oci_layout(layout, tag, [40_000, 3_000], seed=1000 + seed)
        skopeo_copy(
            f"oci:{layout}:{tag}", f"docker://{server.host}/{project}/app:{tag}", creds=developer
        )
        if tag == "v2":  # v2 is also "stable": one artifact, two tags
            skopeo_copy(
                f"oci:{layout}:v2", f"docker://{server.host}/{project}/app:stable", creds=developer
            )
    digests = {tag: image.manifest_digest for tag, image in built.items()}
    immutable = server.api(
        "POST",
        f"/projects/{project}/immutabletagrules",
        auth=server.admin,
        json={
            "tag_selectors": [selector("matches", "v1")],
            "scope_selectors": {"repository": [selector("repoMatches", "**")]},
        },
    )
    assert immutable.status_code == 201, immutable.text
    created = server.api(
        "POST",
        "/retentions",
        auth=developer,
        json={
            "algorithm": "or",
            "rules": [keep("latestPushedK", 2, "v*"), keep("always", None, "stable")],
            "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
            "scope": {"level": "project", "ref": project_id},
        },
    )
    assert created.status_code == 201, created.text
    policy_id = int(created.headers["Location"].rsplit("/", 1)[1])
    before = tags_in_index(server, project)
    assert len(before) == 6

    expected = {
        digests["v5"]: "RETAIN",  # the two newest v*
        digests["v4"]: "RETAIN",
        digests["v2"]: "RETAIN",  # kept through its tag stable, though v2 is an old v*
        digests["v1"]: "IMMUTABLE",
        digests["v3"]: "DEL",
        digests["dev"]: "DEL",  # no rule keeps dev-anything
    }
    dry = run(server, policy_id, dry_run=True, auth=developer)
    assert verdicts(dry) == expected
    assert tags_in_index(server, project) == before  # a dry run changes nothing
    skopeo_inspect(f"docker://{server.host}/{project}/app:v3", creds=developer)

    real = run(server, policy_id, dry_run=False, auth=developer)
    assert verdicts(real) == expected  # exactly what the dry run said
    after = tags_in_index(server, project)
    assert after == {d: tags for d, tags in before.items() if expected[d] != "DEL"}
    assert after[digests["v2"]] == ["stable", "v2"]

    # what is kept pulls back byte for byte; what is deleted is gone from the registry
    for tag in ("v5", "v4", "v2", "stable", "v1"):
        pulled = tmp_path / f"pulled-{tag}"
        skopeo_copy(
            f"docker://{server.host}/{project}/app:{tag}", f"oci:{pulled}:{tag}", creds=developer
        )
        manifest = skopeo_inspect(
            f"docker://{server.host}/{project}/app:{tag}", creds=developer, raw=True
        ).stdout.encode()
        source = built["v2" if tag == "stable" else tag]
        assert manifest == source.manifest
        index = json.loads((pulled / "index.json").read_text())
        assert index["manifests"][0]["digest"] == source.manifest_digest
    for tag in ("v3", "dev"):
        gone = skopeo_inspect(
            f"docker://{server.host}/{project}/app@{digests[tag]}", creds=developer, check=False
        )
        assert gone.returncode != 0 and "manifest unknown" in gone.stderr.lower(), gone.stderr

    logs = server.api(
        "GET", f"/projects/{project}/logs", auth=server.admin, params={"page_size": 100}
    ).json()
    deletions = {
        entry["resource"]: entry["username"]
        for entry in logs
        if entry["operation"] == "delete" and entry["resource_type"] == "artifact"
    }
    assert deletions == {
        f"{project}/app@{digests['v3']}": f"retention policy {policy_id}",
        f"{project}/app@{digests['dev']}": f"retention policy {policy_id}",
    }
