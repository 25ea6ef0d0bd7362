"""The filesystem under the registry's storage fills up (a 64 MiB tmpfs this test mounts).

Pushes fail with an error in the registry's envelope (never a hang, never a 201), pulls keep
working, nothing half-written is indexed, and once space is freed pushes work again, with no
restart of harborlite.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.pushing import OCI_MANIFEST, Pusher, digest_of, image_manifest
from tests.faults.observing import artifacts, is_envelope
from tests.harness import Harborlite, start_harborlite

SIZE = "64m"
MiB = 1 << 20


@pytest.fixture
def small_disk() -> Iterator[tuple[Harborlite, Path]]:
    """A harborlite whose registry storage is a tmpfs of its own; the mount point with it."""
    data_dir = Path(tempfile.mkdtemp(prefix="harborlite-full-"))
    mount_point = data_dir / "registry"  # Settings.registry_storage_dir
    mount_point.mkdir(mode=0o700)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mount_point)],
        check=True,
    )
    try:
        server = start_harborlite(data_dir=data_dir)
        try:
            yield server, mount_point
        finally:
            server.stop()
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        shutil.rmtree(data_dir, ignore_errors=True)


def fill(folder: Path) -> Path:
    """Write a file into ``folder`` until its filesystem has no byte left."""
    filler = folder / "filler"
    block = b"\0" * MiB
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(block)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    # what a full block could not take, byte by byte is too slow: small writes to the end
    with filler.open("ab", buffering=0) as out:
        for size in (64 * 1024, 4096, 512, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError:
                continue
    return filler


def test_pushes_fail_cleanly_on_a_full_disk_and_work_again(
    small_disk: tuple[Harborlite, Path],
) -> None:
    server, mount_point = small_disk
    project = server.unique("full")
    server.create_project(project)
    repository = f"{project}/app"
    with Pusher(server) as pusher:
        kept = pusher.image(repository, "kept")
        headers = pusher._headers(repository)
        filler = fill(mount_point)

        layer = os.urandom(2 * MiB)
        started = pusher.client.post(f"/v2/{repository}/blobs/uploads/", headers=headers)
        refused: httpx.Response = started
        if started.status_code == 202:
            location = started.headers["Location"]
            separator = "&" if "?" in location else "?"
            refused = pusher.client.put(
                f"{location}{separator}digest={digest_of(layer)}",
                content=layer,
                headers={**headers, "Content-Type": "application/octet-stream"},
            )
        # said so in the registry's envelope, without the storage's paths
        assert refused.status_code == 507, refused.text
        assert is_envelope(refused), refused.text
        assert "storage is full" in refused.json()["errors"][0]["message"]
        assert str(mount_point) not in refused.text

        # a manifest naming that blob is not indexed either
        _, _, manifest = image_parts_with(layer)
        put = pusher.client.put(
            f"/v2/{repository}/manifests/broken",
            content=manifest,
            headers={**headers, "Content-Type": OCI_MANIFEST},
        )
        assert put.status_code != 201 and is_envelope(put), put.text
        assert str(mount_point) not in put.text

        # pulls go on: the cached manifest, the manifest by digest, the layer from storage
        accept = {**headers, "Accept": OCI_MANIFEST}
        for reference in ("kept", kept.digest):
            pulled = pusher.client.get(f"/v2/{repository}/manifests/{reference}", headers=accept)
            assert pulled.status_code == 200 and pulled.content == kept.manifest
        for descriptor in httpx.Response(200, content=kept.manifest).json()["layers"]:
            digest = descriptor["digest"]
            blob = pusher.client.get(f"/v2/{repository}/blobs/{digest}", headers=headers)
            assert blob.status_code == 200 and digest_of(blob.content) == descriptor["digest"]
        assert [a["digest"] for a in artifacts(server, project, "app")] == [kept.digest]

        filler.unlink()  # space is back
        assert pusher.blob(repository, layer, headers) == digest_of(layer)
        again = pusher.image(repository, "again", seed="again")
    digests = {a["digest"] for a in artifacts(server, project, "app")}
    assert digests == {kept.digest, again.digest}
    assert server.process.poll() is None


def image_parts_with(layer: bytes) -> tuple[bytes, bytes, bytes]:
    """config, layer and manifest of an image whose one layer is ``layer``."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    manifest = image_manifest(config, layer)
    return config, layer, manifest
