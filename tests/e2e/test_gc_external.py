"""Garbage collection with a registry harborlite did not start: it frees the bytes in that
registry's storage when ``HARBORLITE_REGISTRY_STORAGE`` lets harborlite write there, keeps
what is younger than the time window, and is refused with a clear message without it. The
registries harborlite configures run with no blob descriptor cache (the stale-cache trap)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.test_external_registry import ACCEPT, external_setup
from tests.e2e.test_gc_load import start_gc, wait_gc
from tests.harness import ROOT, Harborlite, cleanup
from tests.support.clients import skopeo_copy
from tests.support.images import assert_same_blobs, build_oci_layout, layout_blob_digests

HOURS = 3600.0
MESSAGE = (
    "garbage collection needs write access to the registry's storage: with an external "
    "registry, set HARBORLITE_REGISTRY_STORAGE to its storage on a writable mount"
)


def _blobs(storage: Path) -> Path:
    return storage / "docker" / "registry" / "v2" / "blobs" / "sha256"


def _data(storage: Path, digest: str) -> Path:
    hexdigest = digest.split(":", 1)[1]
    return _blobs(storage) / hexdigest[:2] / hexdigest / "data"


def _bytes(storage: Path) -> int:
    return sum(path.stat().st_size for path in _blobs(storage).rglob("data"))


def _age(storage: Path, seconds: float) -> None:
    """Every blob in ``storage`` written ``seconds`` ago (past the default 2 h window)."""
    when = time.time() - seconds
    for path in _blobs(storage).rglob("data"):
        os.utime(path, (when, when))


def _gc(server: Harborlite) -> dict[str, Any]:
    path = start_gc(server, {"delete_untagged": False})
    assert path is not None
    done = wait_gc(server, path)
    assert done["job_status"] == "Success", done["log"]
    return done


def _push_two(server: Harborlite, tmp_path: Path) -> tuple[Path, Path]:
    """ext/gone:v1 and ext/kept:v1, sharing their first layer."""
    server.create_project("ext")
    gone, kept = tmp_path / "gone", tmp_path / "kept"
    build_oci_layout(gone, "v1", [200_000, 40_000], seed=61)
    build_oci_layout(kept, "v1", [200_000, 70_000], seed=61)
    for layout, name in ((gone, "gone"), (kept, "kept")):
        skopeo_copy(f"oci:{layout}:v1", f"docker://{server.host}/ext/{name}:v1", creds=server.admin)
    assert layout_blob_digests(gone) & layout_blob_digests(kept)
    return gone, kept


def test_gc_frees_the_bytes_in_an_external_registrys_storage(tmp_path: Path) -> None:
    registry, server, _ = external_setup(tmp_path, "storage")
    try:
        storage = registry.storage_root
        gone, kept = _push_two(server, tmp_path)
        own = layout_blob_digests(gone) - layout_blob_digests(kept)
        own_bytes = sum(_data(storage, d).stat().st_size for d in own)
        listed = server.api("GET", "/projects/ext/repositories/gone/artifacts", auth=server.admin)
        digest = listed.json()[0]["digest"]
        deleted = server.api(
            "DELETE", f"/projects/ext/repositories/gone/artifacts/{digest}", auth=server.admin
        )
        assert deleted.status_code == 200, deleted.text

        # the default window (2 h): the freshly pushed garbage stays
        before = _bytes(storage)
        young = _gc(server)
        assert _bytes(storage) == before
        assert f"{len(own)} unreferenced but younger than the time window (kept)" in young["log"]

        _age(storage, 3 * HOURS)
        old = _gc(server)
        assert before - _bytes(storage) == own_bytes, old["log"]
        assert f"deleted {len(own)} blobs" in old["log"]
        assert not any(_data(storage, d).exists() for d in own)
        assert all(_data(storage, d).exists() for d in layout_blob_digests(kept))

        # the registry itself no longer has them; the kept image pulls, through harborlite
        token = server.token("repository:ext/gone:pull", server.admin)
        auth = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
        for blob in own:
            answer = httpx.head(f"{registry.url}/v2/ext/gone/blobs/{blob}", headers=auth)
            assert answer.status_code == 404, blob
        pulled = tmp_path / "pulled"
        skopeo_copy(f"docker://{server.host}/ext/kept:v1", f"oci:{pulled}:v1", creds=server.admin)
        assert_same_blobs(kept, pulled)
        # pushed again, the deleted image's layers go up again and pull back whole
        skopeo_copy(f"oci:{gone}:v1", f"docker://{server.host}/ext/gone:v2", creds=server.admin)
        again = tmp_path / "again"
        skopeo_copy(f"docker://{server.host}/ext/gone:v2", f"oci:{again}:v1", creds=server.admin)
        assert_same_blobs(gone, again)
    finally:
        cleanup(server)
        registry.stop()


def test_without_the_registrys_storage_gc_is_refused_with_the_reason(tmp_path: Path) -> None:
    registry, server, _ = external_setup(tmp_path, "http-only")
    try:
        _push_two(server, tmp_path)
        before = _bytes(registry.storage_root)
        for method, schedule in (("POST", {"type": "Manual"}), ("PUT", {"type": "Daily"})):
            refused = server.api(
                method, "/system/gc/schedule", auth=server.admin, json={"schedule": schedule}
            )
            assert refused.status_code == 412, refused.text
            error = refused.json()["errors"][0]
            assert error["code"] == "PRECONDITION"
            assert error["message"] == MESSAGE
        history = server.api("GET", "/system/gc", auth=server.admin)
        assert history.status_code == 200 and history.json() == []
        schedule = server.api("GET", "/system/gc/schedule", auth=server.admin).json()
        assert schedule["schedule"]["type"] == "None"
        assert _bytes(registry.storage_root) == before
    finally:
        cleanup(server)
        registry.stop()


def test_a_storage_folder_that_is_not_the_registrys_deletes_nothing(tmp_path: Path) -> None:
    """HARBORLITE_REGISTRY_STORAGE naming some other folder: a run finds no blob there and
    the registry's own storage is untouched."""
    registry, server, _ = external_setup(tmp_path, "wrong-storage")
    try:
        _, kept = _push_two(server, tmp_path)
        _age(registry.storage_root, 3 * HOURS)
        listed = server.api("GET", "/projects/ext/repositories/gone/artifacts", auth=server.admin)
        server.api(
            "DELETE",
            f"/projects/ext/repositories/gone/artifacts/{listed.json()[0]['digest']}",
            auth=server.admin,
        )
        before = _bytes(registry.storage_root)
        path = start_gc(server, {"delete_untagged": False})
        if path is not None:  # refused (412) would be as good
            done = wait_gc(server, path)
            assert "deleted 0 blobs" in done["log"] or done["job_status"] != "Success", done
        assert _bytes(registry.storage_root) == before
        pulled = tmp_path / "pulled"
        skopeo_copy(f"docker://{server.host}/ext/kept:v1", f"oci:{pulled}:v1", creds=server.admin)
        assert_same_blobs(kept, pulled)
    finally:
        cleanup(server)
        registry.stop()


def _no_blob_cache(config: dict[str, object]) -> None:
    storage = config["storage"]
    assert isinstance(storage, dict)
    assert "cache" not in storage, storage  # no blobdescriptor: inmemory nor redis
    assert storage["delete"] == {"enabled": True}


def test_the_embedded_registry_runs_without_a_blob_descriptor_cache(
    harborlite: Harborlite, tmp_path: Path
) -> None:
    """After a sweep a cached descriptor would make the registry claim a deleted blob: later
    pushes would skip it and pulls fail. Neither the embedded registry's configuration nor
    the one ``harborlite registry-config`` prints for an external registry has one."""
    _no_blob_cache(yaml.safe_load((harborlite.data_dir / "registry.yml").read_text()))
    env = {**os.environ, "HARBORLITE_DATA_DIR": str(tmp_path / "data")}
    printed = subprocess.run(
        [sys.executable, "-m", "harborlite", "registry-config"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    _no_blob_cache(yaml.safe_load(printed))
