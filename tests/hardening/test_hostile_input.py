"""Hostile manifests and names against a real harborlite and its registry.

A 3,000-deep manifest is refused at the gateway before the registry sees it; one planted in
the registry behind harborlite's back is skipped and reported by ``harborlite reindex`` while
the rest is indexed; the token service grants nothing on a name the registry would reject;
a push to a repository named exactly like its project is refused.

The module has a server of its own: reindex rebuilds the whole index of the server it runs on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.api.pushing import OCI_CONFIG, OCI_MANIFEST, Pusher, digest_of
from tests.harness import ROOT, Harborlite, own_harborlite

DEPTH = 3000


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite()


def bearer(server: Harborlite, repository: str) -> dict[str, str]:
    token = server.token(f"repository:{repository}:pull,push", server.admin)
    return {"Authorization": f"Bearer {token}"}


def deep_manifest(config_digest: str, config_size: int) -> bytes:
    """A valid OCI manifest but for one unknown field nested 3,000 deep (the registry, which
    ignores unknown fields, accepts it)."""
    head = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
            "layers": [],
        }
    ).encode()[:-1]
    return head + b', "x": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"


def config_blob(pusher: Pusher, repository: str) -> tuple[str, int]:
    config = b'{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}'
    return pusher.blob(repository, config, bearer(pusher.server, repository)), len(config)


def plant_image_named_like_its_project(server: Harborlite, project: str) -> None:
    """An image in the repository ``project`` of the registry, as a push from before the
    gateway refused them left it."""
    headers = bearer(server, project)
    config = b'{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}'
    with httpx.Client(base_url=server.registry_url(), headers=headers, timeout=30) as registry:
        started = registry.post(f"/v2/{project}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        done = registry.put(f"{location}{separator}digest={digest_of(config)}", content=config)
        assert done.status_code == 201, done.text
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": digest_of(config),
                    "size": len(config),
                },
                "layers": [],
            }
        ).encode()
        put = registry.put(
            f"/v2/{project}/manifests/v1",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert put.status_code == 201, put.text


def access_of(token: str) -> list[dict[str, Any]]:
    return list(jwt.decode(token, options={"verify_signature": False})["access"])


def reindex(server: Harborlite) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HARBORLITE_DATA_DIR": str(server.data_dir),
        "HARBORLITE_ADMIN_PASSWORD": server.admin_password,
    }
    return subprocess.run(
        [sys.executable, "-m", "harborlite", "reindex"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_deep_manifest_is_refused_before_the_registry_sees_it(server: Harborlite) -> None:
    project = server.unique("deep")
    server.create_project(project)
    repository = f"{project}/app"
    with Pusher(server) as pusher:
        body = deep_manifest(*config_blob(pusher, repository))
    headers = {**bearer(server, repository), "Content-Type": OCI_MANIFEST}
    with server.client() as client:
        refused = client.put(f"/v2/{repository}/manifests/v1", content=body, headers=headers)
        assert refused.status_code == 400, refused.text
        error = refused.json()["errors"][0]
        assert error["code"] == "MANIFEST_INVALID"
        assert error["message"] == "manifest nests deeper than 64 levels"
        # nothing in the registry (asked directly) nor in the index
        for reference in ("v1", digest_of(body)):
            direct = httpx.get(
                f"{server.registry_url()}/v2/{repository}/manifests/{reference}",
                headers={**headers, "Accept": OCI_MANIFEST},
                timeout=30,
            )
            assert direct.status_code == 404, direct.text
        listed = server.api("GET", f"/projects/{project}/repositories", auth=server.admin)
        assert listed.json() == []
        # not JSON at all: the same refusal, from harborlite
        garbage = client.put(f"/v2/{repository}/manifests/v1", content=b"{", headers=headers)
        assert garbage.status_code == 400
        assert garbage.json()["errors"][0]["code"] == "MANIFEST_INVALID"
        assert "not valid JSON" in garbage.json()["errors"][0]["message"]
    assert "RecursionError" not in server.log()


def test_reindex_skips_and_reports_a_deep_manifest_planted_in_the_registry(
    server: Harborlite,
) -> None:
    project = server.unique("planted")
    server.create_project(project)
    good, bad = f"{project}/good", f"{project}/bad"
    with Pusher(server) as pusher:
        pushed = pusher.image(good, "v1")
        body = deep_manifest(*config_blob(pusher, bad))
    # straight into the registry, around harborlite: a token harborlite signed is all it needs
    planted = httpx.put(
        f"{server.registry_url()}/v2/{bad}/manifests/v1",
        content=body,
        headers={**bearer(server, bad), "Content-Type": OCI_MANIFEST},
        timeout=30,
    )
    assert planted.status_code == 201, planted.text
    plant_image_named_like_its_project(server, project)
    done = reindex(server)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "skipped 2 it cannot index:" in done.stdout
    assert f"  {project}: named like its project, which the REST API cannot address" in (
        done.stdout
    )
    assert (
        f"  {bad}@{digest_of(body)} (tags: v1): manifest nests deeper than 64 levels" in done.stdout
    )
    assert "WARNING" in done.stderr and f"skipped {bad}@{digest_of(body)}" in done.stderr
    # the rest is indexed, the planted manifest is not
    artifacts = server.api(
        "GET", f"/projects/{project}/repositories/good/artifacts", auth=server.admin
    )
    assert artifacts.status_code == 200, artifacts.text
    assert [a["digest"] for a in artifacts.json()] == [pushed.digest]
    missing = server.api("GET", f"/projects/{project}/repositories/bad", auth=server.admin)
    assert missing.status_code == 404


def test_no_token_carries_actions_on_a_name_the_registry_rejects(server: Harborlite) -> None:
    project = server.unique("names")
    server.create_project(project)
    invalid = [
        f"{project}/../secret/app",
        f"{project}/./app",
        f"{project}//app",
        f"{project}/app/",
        f"{project}/App",
        f"{project}/" + "a" * 250,
        f"{project}/äpp",
    ]
    params = [("service", "harbor-registry")]
    params += [("scope", f"repository:{name}:pull,push,delete") for name in invalid]
    params.append(("scope", f"repository:{project}/app:pull,push"))
    with server.client(server.admin) as client:  # the system admin may do everything else
        answer = client.get("/service/token", params=params)
    assert answer.status_code == 200, answer.text
    granted = {entry["name"]: entry["actions"] for entry in access_of(answer.json()["token"])}
    assert granted == {**{name: [] for name in invalid}, f"{project}/app": ["pull", "push"]}


def test_a_push_to_a_repository_named_like_its_project_is_refused(server: Harborlite) -> None:
    project = server.unique("bare")
    server.create_project(project)
    headers = bearer(server, project)
    with server.client() as client:
        upload = client.post(f"/v2/{project}/blobs/uploads/", headers=headers)
        manifest = client.put(
            f"/v2/{project}/manifests/v1",
            content=b'{"schemaVersion": 2, "config": {}, "layers": []}',
            headers={**headers, "Content-Type": OCI_MANIFEST},
        )
        pull = client.get(f"/v2/{project}/manifests/v1", headers=headers)
    for refused in (upload, manifest):
        assert refused.status_code == 400, refused.text
        error = refused.json()["errors"][0]
        assert error["code"] == "NAME_INVALID"
        assert f"push to {project}/<name>" in error["message"]
    assert pull.status_code == 404  # a read is the registry's to answer: nothing there
    assert pull.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert server.api("GET", f"/projects/{project}/repositories", auth=server.admin).json() == []
