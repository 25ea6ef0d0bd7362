"""Quotas with real clients: skopeo and docker pushing past a project's quota see Harbor's
refusal, exactly; a layer two repositories share counts once; a refused push leaves the usage
where it was; deleting an artifact frees what only it held; a project over its quota is refused
before any layer is sent."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from harborlite.quotas.limits import format_size
from tests.harness import Harborlite, cleanup
from tests.support.clients import ClientError, ContainersHome, skopeo_copy, skopeo_delete
from tests.support.docker import DockerCli, failed_output
from tests.support.images import build_oci_layout

pytestmark = [pytest.mark.e2e, pytest.mark.both_databases]

MIB = 1024 * 1024
KIB = 1024
SENTENCE = re.compile(
    r"(adding|subtracting) \d+(\.\d)? ([KMGTPE]i)?B of storage resource, which when updated to "
    r"current usage of \d+(\.\d)? ([KMGTPE]i)?B will exceed the configured upper limit of "
    r"\d+(\.\d)? ([KMGTPE]i)?B\."
)


def project(server: Harborlite, prefix: str, limit: int | None) -> tuple[str, int]:
    name = server.unique(prefix)
    body: dict[str, object] = {"project_name": name}
    if limit is not None:
        body["storage_limit"] = limit
    created = server.api("POST", "/projects", auth=server.admin, json=body)
    assert created.status_code == 201, created.text
    return name, int(created.headers["Location"].rsplit("/", 1)[1])


def quota(server: Harborlite, project_id: int) -> dict[str, object]:
    (found,) = server.api(
        "GET", "/quotas", auth=server.admin, params={"reference_id": str(project_id)}
    ).json()
    assert isinstance(found, dict)
    return found


def used(server: Harborlite, project_id: int) -> int:
    value = quota(server, project_id)["used"]
    assert isinstance(value, dict)
    return int(value["storage"])


def set_limit(server: Harborlite, project_id: int, hard: int) -> None:
    quota_id = quota(server, project_id)["id"]
    answer = server.api(
        "PUT", f"/quotas/{quota_id}", auth=server.admin, json={"hard": {"storage": hard}}
    )
    assert answer.status_code == 200, answer.text


def push(
    server: Harborlite, layout: Path, tag: str, ref: str, home: ContainersHome | None = None
) -> subprocess.CompletedProcess[str]:
    return skopeo_copy(
        f"oci:{layout}:{tag}", f"docker://{server.host}/{ref}", creds=server.admin, home=home
    )


def blob_size(layout: Path, digest: str) -> int:
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).stat().st_size


def refusal_of(error: ClientError) -> str:
    """The refusal skopeo printed: ``denied: <Harbor's sentence>``."""
    text = f"{error.stderr}\n{error.stdout}"
    match = re.search(r"denied: (" + SENTENCE.pattern + ")", text)
    assert match, text
    return match.group(1)


def test_skopeo_past_the_quota_sees_harbors_refusal_and_usage_stays(
    harborlite: Harborlite, tmp_path: Path
) -> None:
    name, project_id = project(harborlite, "qskopeo", 10 * MIB)
    small = build_oci_layout(tmp_path / "small", "v1", [2 * MIB], seed=1201)
    push(harborlite, tmp_path / "small", "v1", f"{name}/app:v1")
    assert used(harborlite, project_id) == small.total_size

    big = build_oci_layout(tmp_path / "big", "v1", [29 * MIB], seed=1202)
    (layer,) = big.layer_digests
    layer_size = blob_size(tmp_path / "big", layer)
    with pytest.raises(ClientError) as refused:
        push(harborlite, tmp_path / "big", "v1", f"{name}/big:v1")
    # skopeo sends the layer first: its upload is refused as it completes
    expected = (
        f"adding {format_size(layer_size)} of storage resource, which when updated to current "
        f"usage of {format_size(small.total_size)} will exceed the configured upper limit of "
        "10.0 MiB."
    )
    assert expected == (
        "adding 29.0 MiB of storage resource, which when updated to current usage of 2.0 MiB "
        "will exceed the configured upper limit of 10.0 MiB."
    )
    assert f": denied: {expected}" in refused.value.stderr, refused.value.stderr
    assert used(harborlite, project_id) == small.total_size  # the refused push changed nothing
    # the bytes it sent wait in the registry as an unfinished upload, listed, not counted
    listed = harborlite.api("GET", f"/projects/{name}/uploads", auth=harborlite.admin).json()
    (upload,) = listed["uploads"]
    assert upload["repository"] == f"{name}/big" and upload["size"] == layer_size
    assert upload["counted"] is False and listed["blobs"] == []
    # and with room made, the same push goes through
    set_limit(harborlite, project_id, 64 * MIB)
    push(harborlite, tmp_path / "big", "v1", f"{name}/big:v1")
    assert used(harborlite, project_id) == small.total_size + big.total_size


def test_skopeo_shared_layer_counts_once_and_delete_frees(
    harborlite: Harborlite, tmp_path: Path
) -> None:
    name, project_id = project(harborlite, "qshared", None)
    other, other_id = project(harborlite, "qshared", None)
    home = ContainersHome(tmp_path / "home")  # its blob-info cache makes skopeo mount the layer
    first = build_oci_layout(tmp_path / "a", "v1", [3 * MIB, 200 * KIB], seed=1203)
    second = build_oci_layout(tmp_path / "b", "v1", [3 * MIB, 300 * KIB], seed=1203)
    shared = set(first.layer_digests) & set(second.layer_digests)
    assert len(shared) == 1
    (base,) = shared
    base_size = blob_size(tmp_path / "a", base)
    push(harborlite, tmp_path / "a", "v1", f"{name}/a:v1", home)
    push(harborlite, tmp_path / "b", "v1", f"{name}/b:v1", home)
    push(harborlite, tmp_path / "b", "v1", f"{other}/b:v1", home)
    both = first.total_size + second.total_size - base_size
    assert used(harborlite, project_id) == both
    assert used(harborlite, other_id) == second.total_size  # counted in each project

    skopeo_delete(f"docker://{harborlite.host}/{name}/a:v1", creds=harborlite.admin)
    assert used(harborlite, project_id) == second.total_size  # the shared layer stays
    deleted = harborlite.api(
        "DELETE", f"/projects/{name}/repositories/b/artifacts/v1", auth=harborlite.admin
    )
    assert deleted.status_code == 200, deleted.text
    assert used(harborlite, project_id) == 0
    assert used(harborlite, other_id) == second.total_size


def test_over_the_quota_skopeo_is_refused_before_any_layer(
    harborlite: Harborlite, tmp_path: Path
) -> None:
    name, project_id = project(harborlite, "qfull", None)
    built = build_oci_layout(tmp_path / "one", "v1", [MIB], seed=1204)
    push(harborlite, tmp_path / "one", "v1", f"{name}/app:v1")
    set_limit(harborlite, project_id, 512 * KIB)
    build_oci_layout(tmp_path / "two", "v1", [2 * MIB], seed=1205)
    with pytest.raises(ClientError) as refused:
        push(harborlite, tmp_path / "two", "v1", f"{name}/app:v2")
    assert refusal_of(refused.value) == (
        "subtracting 0 B of storage resource, which when updated to current usage of "
        f"{format_size(built.total_size)} will exceed the configured upper limit of 512.0 KiB."
    )
    assert used(harborlite, project_id) == built.total_size
    uploads = harborlite.api("GET", f"/projects/{name}/uploads", auth=harborlite.admin).json()
    assert uploads["uploads"] == []  # no upload was even started


def test_docker_push_past_the_quota_prints_harbors_refusal(
    harborlite: Harborlite, docker: DockerCli, tmp_path: Path
) -> None:
    name, project_id = project(harborlite, "qdocker", 64 * KIB)
    docker.login(harborlite.host, *harborlite.admin)
    docker.build_scratch(tmp_path / "fits", "local/qfits:v1", [20 * KIB], seed=1206)
    docker.tag("local/qfits:v1", f"{harborlite.host}/{name}/app:v1")
    docker.push(f"{harborlite.host}/{name}/app:v1")
    fits = used(harborlite, project_id)
    assert 20 * KIB < fits < 64 * KIB

    docker.build_scratch(tmp_path / "big", "local/qbig:v1", [300 * KIB], seed=1207)
    ref = f"{harborlite.host}/{name}/big:v1"
    docker.tag("local/qbig:v1", ref)
    with pytest.raises(ClientError) as refused:
        docker.push(ref)
    # docker compressed the layer itself: its size is what the refused upload holds
    listed = harborlite.api("GET", f"/projects/{name}/uploads", auth=harborlite.admin).json()
    (upload,) = [u for u in listed["uploads"] if u["repository"] == f"{name}/big"]
    expected = (
        f"adding {format_size(upload['size'])} of storage resource, which when updated to "
        f"current usage of {format_size(fits)} will exceed the configured upper limit of "
        "64.0 KiB."
    )
    assert refused.value.stderr == f"denied: {expected}\n", failed_output(refused.value)
    assert used(harborlite, project_id) == fits  # the refused push left it where it was

    # the image that fits, pushed to a second repository: docker mounts its layer, and the
    # project holds nothing new (the layer, the config and the manifest count once)
    second = f"{harborlite.host}/{name}/copy:v1"
    docker.tag("local/qfits:v1", second)
    output = docker.push(second).stdout
    assert "Mounted from" in output or "Layer already exists" in output, output
    assert used(harborlite, project_id) == fits
    deleted = harborlite.api(
        "DELETE", f"/projects/{name}/repositories/app/artifacts/v1", auth=harborlite.admin
    )
    assert deleted.status_code == 200, deleted.text
    assert used(harborlite, project_id) == fits  # the copy still holds all of it
    removed = harborlite.api("DELETE", f"/projects/{name}/repositories/copy", auth=harborlite.admin)
    assert removed.status_code == 200, removed.text
    assert used(harborlite, project_id) == 0


@pytest.mark.parametrize("storage", ["storage", "http-only"])
def test_in_front_of_an_external_registry(tmp_path: Path, storage: str) -> None:
    """With or without its storage: the refusal, the usage, a recount and the uploads list."""
    from tests.e2e.test_external_registry import external_setup
    from tests.support.processes import RegistryServer

    registry: RegistryServer
    registry, server, _ = external_setup(tmp_path, storage)
    try:
        name, project_id = project(server, "qext", MIB)
        small = build_oci_layout(tmp_path / "small", "v1", [300 * KIB], seed=1208)
        push(server, tmp_path / "small", "v1", f"{name}/app:v1")
        assert used(server, project_id) == small.total_size
        big = build_oci_layout(tmp_path / "big", "v1", [2 * MIB], seed=1209)
        (layer,) = big.layer_digests
        with pytest.raises(ClientError) as refused:
            push(server, tmp_path / "big", "v1", f"{name}/app:v2")
        assert refusal_of(refused.value) == (
            f"adding {format_size(blob_size(tmp_path / 'big', layer))} of storage resource, "
            f"which when updated to current usage of {format_size(small.total_size)} will "
            "exceed the configured upper limit of 1.0 MiB."
        )
        assert used(server, project_id) == small.total_size
        quota_id = quota(server, project_id)["id"]
        recounted = server.api("POST", f"/quotas/{quota_id}/recount", auth=server.admin).json()
        assert recounted["after"] == {"storage": small.total_size}
        uploads = server.api("GET", f"/projects/{name}/uploads", auth=server.admin).json()
        assert uploads["storage_readable"] is (storage == "storage")
        assert len(uploads["uploads"]) == (1 if storage == "storage" else 0)
    finally:
        cleanup(server)
        registry.stop()
