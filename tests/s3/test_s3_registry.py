"""The embedded registry on S3 (moto): push and pull by redirect with skopeo and docker, tag and
repository deletion, garbage collection freeing objects in the bucket, quota usage, reindex,
and a clear refusal to start on a wrong bucket or an unreachable endpoint."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harborlite.upstream.calls import UNTAG_CONFIG_DIGEST
from tests.harness import ROOT, Harborlite, start_harborlite
from tests.s3.conftest import S3Server
from tests.support.clients import ClientError, skopeo_copy
from tests.support.docker import DockerCli
from tests.support.images import BuiltImage, build_oci_layout, layout_blob_digests
from tests.support.processes import free_port

V2 = "docker/registry/v2"


def data_key(digest: str) -> str:
    hexdigest = digest.split(":", 1)[1]
    return f"{V2}/blobs/sha256/{hexdigest[:2]}/{hexdigest}/data"


def project(server: Harborlite) -> tuple[str, int]:
    name = server.unique("s3p")
    return name, server.create_project(name)


def push(server: Harborlite, tmp_path: Path, ref: str, sizes: list[int], seed: int) -> BuiltImage:
    layout = tmp_path / f"layout-{seed}-{uuid.uuid4().hex[:6]}"
    image = build_oci_layout(layout, "v1", sizes, seed)
    skopeo_copy(f"oci:{layout}:v1", f"docker://{server.host}/{ref}", creds=server.admin)
    return image


def access_line(server: Harborlite, request_id: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in server.log_path.read_text().splitlines():
            if f"rid={request_id}" in line and "harborlite.access" in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"no access line for {request_id}:\n{server.log()}")


def registry_pid(server: Harborlite) -> int:
    started = [x for x in server.log_path.read_text().splitlines() if "registry started (pid" in x]
    return int(started[-1].rsplit("registry started (pid ", 1)[1].split(")")[0])


def run_gc(server: Harborlite) -> dict[str, Any]:
    started = server.api(
        "POST",
        "/system/gc/schedule",
        auth=server.admin,
        json={"schedule": {"type": "Manual"}, "parameters": {"delete_untagged": False}},
    )
    assert started.status_code == 201, started.text
    path = started.headers["Location"].removeprefix("/api/v2.0")
    deadline = time.monotonic() + 60
    while True:
        shown: dict[str, Any] = server.api("GET", path, auth=server.admin).json()
        if shown["job_status"] in ("Success", "Error", "Stopped"):
            break
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)
    shown["log"] = server.api("GET", f"{path}/log", auth=server.admin).text
    assert shown["job_status"] == "Success", shown["log"]
    return shown


# --- the registry's configuration ------------------------------------------------------------


def test_the_registry_runs_on_the_bucket_with_redirects_and_without_aws_ca_bundle(
    s3_harborlite: Harborlite, s3_server: S3Server, s3_bucket: str
) -> None:
    config = yaml.safe_load((s3_harborlite.data_dir / "registry.yml").read_text())
    storage = config["storage"]
    assert "filesystem" not in storage
    assert storage["s3"]["bucket"] == s3_bucket
    assert storage["s3"]["regionendpoint"] == s3_server.endpoint
    assert storage["s3"]["secure"] is False and storage["s3"]["v4auth"] is True
    assert storage["redirect"] == {"disable": False}
    assert "AWS_CA_BUNDLE" in os.environ  # the trap these machines set
    environ = Path(f"/proc/{registry_pid(s3_harborlite)}/environ").read_bytes().split(b"\0")
    assert not [item for item in environ if item.startswith(b"AWS_CA_BUNDLE=")]


def test_registry_config_prints_the_s3_driver_for_an_external_registry(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **s3_server.env(s3_bucket),
        "HARBORLITE_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "harborlite", "registry-config"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert config["storage"]["s3"]["bucket"] == s3_bucket
    assert config["storage"]["s3"]["accesskey"] == "harborlite-test"
    assert config["storage"]["redirect"] == {"disable": False}
    assert "AWS_CA_BUNDLE" in done.stdout  # told to start the registry without it


# --- push and pull by redirect ---------------------------------------------------------------


def test_skopeo_push_and_pull_go_by_redirect_to_the_bucket(
    s3_harborlite: Harborlite, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    server = s3_harborlite
    name, _ = project(server)
    image = push(server, tmp_path, f"{name}/app:v1", [40_000, 7_000], seed=11)
    keys = set(s3_server.keys(s3_bucket))
    for digest in (*image.layer_digests, image.config_digest):
        assert data_key(digest) in keys  # the bytes are in the bucket
    assert not (server.data_dir / "registry" / "docker").exists()  # and not on the disk
    # a blob GET: harborlite's checks, then the registry's 307 to a presigned URL, untouched
    token = server.token(f"repository:{name}/app:pull", server.admin)
    layer = image.layer_digests[0]
    rid = f"s3-{uuid.uuid4().hex}"
    answer = httpx.get(
        f"{server.url}/v2/{name}/app/blobs/{layer}",
        headers={"Authorization": f"Bearer {token}", "X-Request-Id": rid},
        timeout=30,
    )
    assert answer.status_code == 307, (answer.status_code, answer.headers)
    location = answer.headers["location"]
    assert location.startswith(f"{s3_server.endpoint}/{s3_bucket}/{data_key(layer)}?")
    assert "X-Amz-Signature=" in location
    line = access_line(server, rid)
    assert " 307 " in line and "via=proxy" in line  # not via=storage: no bytes through us
    fetched = httpx.get(location, timeout=30)
    assert fetched.status_code == 200
    assert "sha256:" + hashlib.sha256(fetched.content).hexdigest() == layer
    # the refusal still comes first: no token, no redirect
    assert httpx.get(f"{server.url}/v2/{name}/app/blobs/{layer}", timeout=10).status_code == 401
    # skopeo pulls the whole image (following the redirects)
    pulled = tmp_path / "pulled"
    skopeo_copy(f"docker://{server.host}/{name}/app:v1", f"oci:{pulled}:v1", creds=server.admin)
    assert {*image.layer_digests, image.config_digest} <= layout_blob_digests(pulled)
    redirects = [
        x for x in server.log_path.read_text().splitlines() if f"/v2/{name}/app/blobs/" in x
    ]
    assert any(" 307 " in x for x in redirects) and not any("via=storage" in x for x in redirects)


def test_docker_push_and_pull_by_redirect(
    s3_harborlite: Harborlite,
    s3_server: S3Server,
    s3_bucket: str,
    docker: DockerCli,
    tmp_path: Path,
) -> None:
    server = s3_harborlite
    name, _ = project(server)
    docker.login(server.host, *server.admin)
    local = docker.build_scratch(tmp_path / "ctx", f"local/{name}:v1", (9_000, 3_000), seed=1301)
    ref = f"{server.host}/{name}/app:v1"
    docker.tag(f"local/{name}:v1", ref)
    docker.push(ref)
    docker.rmi(ref, f"local/{name}:v1")
    docker.pull(ref)
    assert docker.image_id(ref) == local
    blob_gets = [
        x
        for x in server.log_path.read_text().splitlines()
        if re.search(rf"GET /v2/{name}/app/blobs/sha256:\w+ 307 ", x)
    ]
    assert len(blob_gets) >= 3, server.log()  # config and two layers, each by redirect
    assert any(k.startswith(f"{V2}/repositories/{name}/app/") for k in s3_server.keys(s3_bucket))


# --- delete, garbage collection, quota, reindex ----------------------------------------------


def test_tag_and_repository_deletion_then_gc_frees_the_objects(
    s3_harborlite: Harborlite, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    server = s3_harborlite
    name, _ = project(server)
    image = push(server, tmp_path, f"{name}/gone:v1", [30_000, 5_000], seed=21)
    skopeo_copy(
        f"docker://{server.host}/{name}/gone:v1",
        f"docker://{server.host}/{name}/gone:v2",
        creds=server.admin,
    )
    tags = f"{V2}/repositories/{name}/gone/_manifests/tags/"
    assert {k.split("/")[-3] for k in s3_server.keys(s3_bucket, tags)} >= {"v1", "v2"}
    removed = server.api(
        "DELETE",
        f"/projects/{name}/repositories/gone/artifacts/v1/tags/v2",
        auth=server.admin,
    )
    assert removed.status_code == 200, removed.text
    assert not s3_server.keys(s3_bucket, f"{tags}v2/")  # the registry has no v2 any more
    # removed in the bucket, not over HTTP (which pushes and deletes a throwaway manifest)
    throwaway = UNTAG_CONFIG_DIGEST.split(":", 1)[1]
    layers = s3_server.keys(s3_bucket, f"{V2}/repositories/{name}/gone/_layers/")
    assert not [k for k in layers if throwaway in k]
    with pytest.raises(ClientError):
        skopeo_copy(
            f"docker://{server.host}/{name}/gone:v2", f"oci:{tmp_path / 'x'}:v2", creds=server.admin
        )
    deleted = server.api("DELETE", f"/projects/{name}/repositories/gone", auth=server.admin)
    assert deleted.status_code == 200, deleted.text
    assert not s3_server.keys(s3_bucket, f"{V2}/repositories/{name}/gone/")
    own = {*image.layer_digests, image.config_digest, image.manifest_digest}
    assert {data_key(d) for d in own} <= set(s3_server.keys(s3_bucket))  # until a GC
    shown = run_gc(server)
    left = set(s3_server.keys(s3_bucket))
    assert not {data_key(d) for d in own} & left, shown["log"]
    assert "in the S3 bucket" in shown["log"]


def test_gc_keeps_what_a_manifest_names(
    s3_harborlite: Harborlite, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    server = s3_harborlite
    name, _ = project(server)
    image = push(server, tmp_path, f"{name}/kept:v1", [12_000], seed=31)
    run_gc(server)
    left = set(s3_server.keys(s3_bucket))
    assert {data_key(d) for d in (*image.layer_digests, image.config_digest)} <= left
    pulled = tmp_path / "pulled"
    skopeo_copy(f"docker://{server.host}/{name}/kept:v1", f"oci:{pulled}:v1", creds=server.admin)


def test_quota_usage_counts_the_pushed_sizes_and_a_recount_agrees(
    s3_harborlite: Harborlite, tmp_path: Path
) -> None:
    server = s3_harborlite
    name, project_id = project(server)
    image = push(server, tmp_path, f"{name}/app:v1", [20_000, 4_000], seed=41)
    (quota,) = server.api(
        "GET", "/quotas", auth=server.admin, params={"reference_id": str(project_id)}
    ).json()
    assert quota["used"]["storage"] == image.total_size
    recounted = server.api("POST", f"/quotas/{quota['id']}/recount", auth=server.admin)
    assert recounted.status_code == 200, recounted.text
    (quota,) = server.api(
        "GET", "/quotas", auth=server.admin, params={"reference_id": str(project_id)}
    ).json()
    assert quota["used"]["storage"] == image.total_size


def test_reindex_reads_the_manifests_in_the_bucket(
    s3_harborlite: Harborlite, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    server = s3_harborlite
    name, _ = project(server)
    first = push(server, tmp_path, f"{name}/app:v1", [5_000], seed=51)
    second = push(server, tmp_path, f"{name}/app:v1", [6_000], seed=52)  # first: untagged
    env = {
        **os.environ,
        **s3_server.env(s3_bucket),
        "HARBORLITE_DATA_DIR": str(server.data_dir),
        "HARBORLITE_GC_TIME_WINDOW_MINUTES": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "harborlite", "reindex"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    listed = server.api(
        "GET", f"/projects/{name}/repositories/app/artifacts", auth=server.admin
    ).json()
    # the untagged one is known from the bucket's revisions only: it stays indexed
    assert {a["digest"] for a in listed} == {first.manifest_digest, second.manifest_digest}


# --- refusals at start -----------------------------------------------------------------------


def test_a_wrong_bucket_fails_the_start_with_a_clear_message(
    s3_server: S3Server, tmp_path: Path
) -> None:
    env = s3_server.env("no-such-bucket-here")
    (tmp_path / "data").mkdir()
    with pytest.raises(RuntimeError) as failed:
        start_harborlite(extra_env=env, data_dir=tmp_path / "data")
    assert "no-such-bucket-here" in str(failed.value)
    assert "does not exist (HARBORLITE_S3_BUCKET)" in str(failed.value)


def test_an_unreachable_endpoint_fails_the_start_with_a_clear_message(
    s3_server: S3Server, tmp_path: Path
) -> None:
    env = {**s3_server.env("any"), "HARBORLITE_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    (tmp_path / "data").mkdir()
    with pytest.raises(RuntimeError) as failed:
        start_harborlite(extra_env=env, data_dir=tmp_path / "data")
    assert "is unreachable" in str(failed.value) and "HARBORLITE_S3_ENDPOINT" in str(failed.value)
