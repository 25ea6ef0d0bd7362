"""Garbage collection frees the bytes on disk: after an image is deleted, a run shrinks the
registry's storage by exactly that image's own blobs; the layers it shared with another image
stay and that image still pulls byte for byte; a dry run changes nothing; untagged artifacts
go when asked. The harborlite here collects with no time window (a setting)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Harborlite, cleanup, start_harborlite
from tests.support.clients import skopeo_copy
from tests.support.images import build_oci_layout, layout_blob_digests


@pytest.fixture(scope="module")
def collector(request: pytest.FixtureRequest, postgres: Any) -> Iterator[Harborlite]:
    """A harborlite of its own (a run sweeps the whole registry), on SQLite and PostgreSQL."""
    database = None if request.param == "sqlite" else postgres.create_database("gc_e2e")
    server = start_harborlite(database, {"HARBORLITE_GC_TIME_WINDOW_MINUTES": "0"})
    try:
        yield server
    finally:
        cleanup(server)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "collector" in metafunc.fixturenames:
        metafunc.parametrize("collector", ["sqlite", "postgresql"], indirect=True, scope="module")


def storage_bytes(server: Harborlite) -> int:
    blobs = server.data_dir / "registry" / "docker" / "registry" / "v2" / "blobs"
    return sum(path.stat().st_size for path in blobs.rglob("data"))


def blob_file(server: Harborlite, digest: str) -> Path:
    hexdigest = digest.split(":", 1)[1]
    base = server.data_dir / "registry" / "docker" / "registry" / "v2" / "blobs" / "sha256"
    return base / hexdigest[:2] / hexdigest / "data"


def run_gc(server: Harborlite, **parameters: Any) -> dict[str, Any]:
    started = server.api(
        "POST",
        "/system/gc/schedule",
        auth=server.admin,
        json={"schedule": {"type": "Manual"}, "parameters": parameters},
    )
    assert started.status_code == 201, started.text
    path = started.headers["Location"].removeprefix("/api/v2.0")
    deadline = time.monotonic() + 60
    while True:
        shown = server.api("GET", path, auth=server.admin).json()
        if shown["job_status"] in ("Success", "Error", "Stopped"):
            break
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)
    shown["log"] = server.api("GET", f"{path}/log", auth=server.admin).text
    assert shown["job_status"] == "Success", shown["log"]
    return shown


def delete_artifact(server: Harborlite, project: str, repository: str, reference: str) -> None:
    deleted = server.api(
        "DELETE",
        f"/projects/{project}/repositories/{repository}/artifacts/{reference}",
        auth=server.admin,
    )
    assert deleted.status_code == 200, deleted.text


def test_gc_frees_the_deleted_images_own_blobs_and_keeps_shared_ones(
    collector: Harborlite, tmp_path: Path
) -> None:
    server = collector
    project = server.unique("gc")
    server.create_project(project)
    shared = build_oci_layout(tmp_path / "a", "v1", [300_000, 50_000], seed=91)
    # the second image shares the first layer: the same seed and size come first
    kept = build_oci_layout(tmp_path / "b", "v1", [300_000, 80_000], seed=91)
    skopeo_copy(
        f"oci:{tmp_path / 'a'}:v1", f"docker://{server.host}/{project}/gone:v1", creds=server.admin
    )
    skopeo_copy(
        f"oci:{tmp_path / 'b'}:v1", f"docker://{server.host}/{project}/kept:v1", creds=server.admin
    )
    gone_blobs = layout_blob_digests(tmp_path / "a")
    kept_blobs = layout_blob_digests(tmp_path / "b")
    own = gone_blobs - kept_blobs
    assert own and gone_blobs & kept_blobs  # the image has blobs of its own, and shares one
    own_bytes = sum(blob_file(server, d).stat().st_size for d in own)

    dry = run_gc(server, dry_run=True, delete_untagged=False)
    assert "dry run" in dry["log"]
    assert all(blob_file(server, d).exists() for d in own)

    before = storage_bytes(server)
    delete_artifact(server, project, "gone", "v1")
    run_gc(server, delete_untagged=False)
    after = storage_bytes(server)
    assert before - after == own_bytes, (before, after, own_bytes)
    assert not any(blob_file(server, d).exists() for d in own)
    assert all(blob_file(server, d).exists() for d in kept_blobs)
    pulled = tmp_path / "pulled"
    skopeo_copy(f"docker://{server.host}/{project}/kept:v1", f"oci:{pulled}:v1", creds=server.admin)
    assert layout_blob_digests(pulled) == kept_blobs
    assert shared.manifest_digest != kept.manifest_digest


def test_gc_deletes_untagged_artifacts_when_asked(collector: Harborlite, tmp_path: Path) -> None:
    server = collector
    project = server.unique("untagged")
    server.create_project(project)
    build_oci_layout(tmp_path / "old", "v1", [40_000], seed=93)
    build_oci_layout(tmp_path / "new", "v1", [41_000], seed=94)
    ref = f"docker://{server.host}/{project}/app:v1"
    skopeo_copy(f"oci:{tmp_path / 'old'}:v1", ref, creds=server.admin)
    skopeo_copy(f"oci:{tmp_path / 'new'}:v1", ref, creds=server.admin)  # the old one untagged
    listed = server.api(
        "GET", f"/projects/{project}/repositories/app/artifacts", auth=server.admin
    ).json()
    assert len(listed) == 2
    old_layers = layout_blob_digests(tmp_path / "old") - layout_blob_digests(tmp_path / "new")
    result = run_gc(server, delete_untagged=True)
    assert "deleted 1 untagged artifacts" in result["log"]
    listed = server.api(
        "GET", f"/projects/{project}/repositories/app/artifacts", auth=server.admin
    ).json()
    assert [a["tags"][0]["name"] for a in listed] == ["v1"]
    assert not any(blob_file(server, d).exists() for d in old_layers)
    logs = server.api(
        "GET", "/audit-logs", auth=server.admin, params={"q": f"resource=~{project}/app"}
    ).json()
    assert any(e["operation"] == "delete" and e["username"] == "gc" for e in logs)


def test_gc_refuses_bad_parameters_and_non_admins(collector: Harborlite) -> None:
    server = collector
    for parameters in ({"workers": 0}, {"workers": 11}, {"workers": "3"}):
        answer = server.api(
            "POST",
            "/system/gc/schedule",
            auth=server.admin,
            json={"schedule": {"type": "Manual"}, "parameters": parameters},
        )
        assert answer.status_code == 400
        assert answer.json()["errors"][0]["message"] == "Invalid number of workers"
    bad_cron = server.api(
        "PUT",
        "/system/gc/schedule",
        auth=server.admin,
        json={"schedule": {"type": "Custom", "cron": "every day"}},
    )
    assert bad_cron.status_code == 400
    name = server.unique("nogc")
    server.create_user(name, "Passw0rd!x")
    assert server.api("GET", "/system/gc", auth=(name, "Passw0rd!x")).status_code == 403
    assert httpx.get(f"{server.url}/api/v2.0/system/gc", timeout=10).status_code == 401


def test_a_schedule_is_kept_and_shown(collector: Harborlite) -> None:
    server = collector
    answer = server.api(
        "PUT",
        "/system/gc/schedule",
        auth=server.admin,
        json={"schedule": {"type": "Daily"}, "parameters": {"delete_untagged": False}},
    )
    assert answer.status_code == 200, answer.text
    shown = server.api("GET", "/system/gc/schedule", auth=server.admin).json()
    assert shown["schedule"]["type"] == "Daily"
    assert shown["schedule"]["cron"] == "0 0 0 * * *"
    assert "T00:00:00" in shown["schedule"]["next_scheduled_time"]
    assert json.loads(shown["job_parameters"])["delete_untagged"] is False
    off = server.api(
        "PUT", "/system/gc/schedule", auth=server.admin, json={"schedule": {"type": "None"}}
    )
    assert off.status_code == 200
    assert (
        server.api("GET", "/system/gc/schedule", auth=server.admin).json()["schedule"]["type"]
        == "None"
    )


def test_gc_keeps_the_untagged_signatures_of_a_kept_image(collector: Harborlite) -> None:
    """OCI referrers (signatures, SBOMs) are untagged: deleting untagged artifacts must not take
    them from the image they belong to."""
    from tests.api.pushing import Pusher
    from tests.referrers.referring import NOTATION, push_referrer

    server = collector
    project = server.unique("signed")
    server.create_project(project)
    repository = f"{project}/app"
    with Pusher(server) as pusher:
        image = pusher.image(repository, "v1")
        signature = push_referrer(
            pusher, repository, (image.digest, len(image.manifest)), NOTATION, b"jws"
        )
    result = run_gc(server, delete_untagged=True)
    assert result["job_status"] == "Success", result
    accessories = server.api(
        "GET",
        f"/projects/{project}/repositories/app/artifacts/{image.digest}/accessories",
        auth=server.admin,
    )
    assert accessories.status_code == 200, accessories.text
    assert [a["digest"] for a in accessories.json()] == [signature.digest]
