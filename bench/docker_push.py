"""The ``docker`` group of ``bench/run.py``: ``docker push`` (and pull) of a big image, on
harborlite and on the bare registry it fronts.

One real Docker engine (Debian's ``dockerd``, ``tests.support.docker.Dockerd``) runs for the
whole group, its data root under the run's scratch folder; its CLI is logged in to both sides
(harborlite's port and the registry's, whose token realm is harborlite's token service) as the
admin. Each round, each side in the round's order:

- a fresh ``FROM scratch`` image is built (untimed) with one layer of ``--blob-mib`` MiB of
  random bytes of its own, so no registry and no repository has that layer yet and docker has
  no record of it (its v2 metadata, ``image/<driver>/distribution/``, is what makes it mount
  from another repository or skip a layer "already there"): every timed push is a full upload;
- ``docker tag`` to ``<host>/bench/docker-<side>-r<round>:latest`` and ``docker push``, timed
  (wall seconds of the CLI); the output must say ``Pushed`` for the layer and never
  ``Mounted from`` nor ``Layer already exists``, or the case fails;
- the local image is removed, then ``docker pull`` of what was pushed is timed the same way
  (its output must say ``Pull complete``, never ``Already exists``), then removed again.

MB/s = the layer's bytes (``--blob-mib`` MiB) over the wall seconds. docker gzips the layer
while it pushes and gunzips it while it pulls: that CPU is docker's, the same on both sides.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cases as c
from environment import PROJECT, World

from tests.support.docker import STORAGE_DRIVER, DockerCli, Dockerd

CASES = [
    c.Case(
        "docker_push_big",
        "docker push, big image",
        "MB/s",
        True,
        c.Target("ratio_min", 1.0, ">= 1.0x"),
    ),
    c.Case("docker_pull_big", "docker pull, big image", "MB/s", True),
]

TIMEOUT = 1800.0  # seconds for one docker push or pull of the big image
REUSED = ("Mounted from", "Layer already exists")
_LAYER_LINE = re.compile(r"^([0-9a-f]{12}): (.+)$")


def layer_statuses(output: str) -> dict[str, str]:
    """The last status docker printed for each layer of a push or pull."""
    last: dict[str, str] = {}
    for line in output.splitlines():
        match = _LAYER_LINE.match(line.strip())
        if match:
            last[match.group(1)] = match.group(2)
    return last


def check_full_push(output: str, ref: str) -> None:
    """A push that uploaded every layer: one layer, ``Pushed``, nothing mounted or skipped."""
    statuses = layer_statuses(output)
    reused = [line for line in output.splitlines() if any(word in line for word in REUSED)]
    if reused or list(statuses.values()) != ["Pushed"]:
        raise RuntimeError(
            f"docker push of {ref} was not one full upload (statuses {statuses}, "
            f"reused {reused}):\n{output[-2000:]}"
        )


def check_full_pull(output: str, ref: str) -> None:
    """A pull that downloaded the layer (docker did not have it already)."""
    statuses = layer_statuses(output)
    if "Already exists" in output or list(statuses.values()) != ["Pull complete"]:
        raise RuntimeError(
            f"docker pull of {ref} was not one full download (statuses {statuses}):\n"
            f"{output[-2000:]}"
        )


class DockerRun:
    """The docker cases of one bench run: the engine lives across its rounds."""

    def __init__(
        self, world: World, layer_mib: int, add: Callable[[str, str, float], None]
    ) -> None:
        self.world = world
        self.layer_bytes = layer_mib * c.MiB
        self.add = add
        self.wire_bytes: list[int] = []  # the gzipped layer as the registry stored it
        self.dockerd_cores: list[float] = []  # dockerd's CPU seconds over each push's wall
        # images and layers in the run's scratch folder; the engine's sockets in a short one
        # of their own (containerd's lives under the exec root: a unix socket path has 108
        # bytes, and a scratch folder under pytest's tmp_path is longer than that allows)
        self.data_root = Path(tempfile.mkdtemp(prefix="docker-", dir=world.workdir))
        sockets = Path(tempfile.mkdtemp(prefix="dk-"))
        try:
            self.daemon = Dockerd(sockets, data_root=self.data_root)
        except BaseException:
            shutil.rmtree(sockets, ignore_errors=True)
            raise
        try:
            self.dockerd_pid = int((sockets / "docker.pid").read_text())
            self.docker: DockerCli = self.daemon.cli(sockets / "cli")
            user, password = world.admin
            for side in world.sides:
                self.docker.login(side.host, user, password)
            self.version = self.docker.run(
                "version", "--format", "{{.Server.Version}}"
            ).stdout.strip()
        except BaseException:
            self.daemon.stop()
            raise

    def close(self) -> None:
        self.daemon.stop()

    def note(self) -> str:
        wire = (
            f"; the gzipped layer docker sent was {min(self.wire_bytes):,} to "
            f"{max(self.wire_bytes):,} bytes"
            if self.wire_bytes
            else ""
        )
        busy = (
            f"; dockerd's CPU over a push's wall time: {min(self.dockerd_cores):.2f} to "
            f"{max(self.dockerd_cores):.2f} cores (it gzips the layer in one stream)"
            if self.dockerd_cores
            else ""
        )
        return (
            f"docker push/pull: Docker Engine {self.version} ({STORAGE_DRIVER}), a FROM scratch "
            f"image of one {self.layer_bytes // c.MiB} MiB layer of random bytes, built fresh "
            f"(untimed) for every push, so each push uploads the whole layer (checked: "
            f"'Pushed', no 'Mounted from' nor 'Layer already exists'); the local image removed "
            f"before each pull (checked: 'Pull complete'); MB/s = layer bytes over the CLI's "
            f"wall time, docker's gzip and gunzip included{wire}{busy}"
        )

    def round(
        self,
        number: int,
        sides: list[str],
        measured: Callable[[str, Callable[[], None]], None],
    ) -> None:
        pushed: dict[str, tuple[str, str]] = {}  # side -> (ref, image id)
        for index, side in enumerate(sides):

            def push(side: str = side, seed: int = 1000 + 2 * number + index) -> None:
                ref = f"{getattr(self.world, side).host}/{PROJECT}/docker-{side}-r{number}:latest"
                image_id, seconds = self.push(ref, f"local/docker-bench:{side}-r{number}", seed)
                pushed[side] = (ref, image_id)
                speed = self.layer_bytes / seconds / c.MB
                self.add("docker_push_big", side, speed)
                print(f"{'docker_push_big':28s} {side:10s} {speed:10.1f} MB/s", flush=True)

            measured(f"docker push on {side}", push)
        for side in sides:
            if side not in pushed:
                continue

            def pull(side: str = side) -> None:
                ref, image_id = pushed[side]
                seconds = self.pull(ref, image_id)
                speed = self.layer_bytes / seconds / c.MB
                self.add("docker_pull_big", side, speed)
                print(f"{'docker_pull_big':28s} {side:10s} {speed:10.1f} MB/s", flush=True)

            measured(f"docker pull on {side}", pull)

    def push(self, ref: str, local: str, seed: int) -> tuple[str, float]:
        """Build a fresh image, push it as ``ref`` (timed), remove it locally: its id and the
        push's seconds."""
        context = Path(tempfile.mkdtemp(prefix="ctx-", dir=self.world.workdir))
        try:
            image_id = self.docker.build_scratch(context, local, [self.layer_bytes], seed=seed)
        finally:
            shutil.rmtree(context, ignore_errors=True)
        self.docker.tag(local, ref)
        try:
            cpu, started = c.cpu_seconds(self.dockerd_pid), time.perf_counter()
            output = self.docker.run("push", ref, timeout=TIMEOUT).stdout
            seconds = time.perf_counter() - started
            self.dockerd_cores.append((c.cpu_seconds(self.dockerd_pid) - cpu) / seconds)
            check_full_push(output, ref)
            self._record_wire_size(ref)
        finally:
            self.docker.rmi(local, ref)
        return image_id, seconds

    def pull(self, ref: str, image_id: str) -> float:
        """Pull ``ref`` (not present locally), timed; check it is the image pushed; remove it."""
        if self.docker.has_image(ref):
            raise RuntimeError(f"{ref} is still local: the pull would download nothing")
        try:
            started = time.perf_counter()
            output = self.docker.run("pull", ref, timeout=TIMEOUT).stdout
            seconds = time.perf_counter() - started
            check_full_pull(output, ref)
            if self.docker.image_id(ref) != image_id:
                raise RuntimeError(f"pulled {ref} is {self.docker.image_id(ref)}, not {image_id}")
        finally:
            self.docker.rmi(ref)
        return seconds

    def _record_wire_size(self, ref: str) -> None:
        """The size of the gzipped layer in the registry's storage (found through docker's
        record of the blob it pushed); nothing when that record is not where expected."""
        layers = self.docker.inspect(ref).get("RootFS", {})
        diff_ids = layers.get("Layers") if isinstance(layers, dict) else None
        if not diff_ids:
            return
        record = (
            self.data_root
            / "image"
            / STORAGE_DRIVER
            / "distribution/v2metadata-by-diffid/sha256"
            / str(diff_ids[0]).split(":", 1)[1]
        )
        try:
            digest = str(json.loads(record.read_text())[0]["Digest"]).split(":", 1)[1]
            blob = (
                self.world.server.data_dir
                / "registry/docker/registry/v2/blobs/sha256"
                / digest[:2]
                / digest
                / "data"
            )
            self.wire_bytes.append(blob.stat().st_size)
        except (OSError, ValueError, KeyError, IndexError):
            pass
