"""bench/docker_push.py's checks of docker's output: a timed push must be one full upload and a
timed pull one full download, else the case fails (docker mounts or skips a layer it has a record
of, and then the two sides would not do the same work).

Pure text: the lines are what Docker Engine 20.10 prints with no terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
REF = "127.0.0.1:5000/bench/docker-registry-r0:latest"
PUSHED = """The push refers to repository [127.0.0.1:5000/bench/docker-registry-r0]
5563fa6c90ed: Preparing
5563fa6c90ed: Pushing
5563fa6c90ed: Pushed
latest: digest: sha256:0f3c5c7d1e8a7a0e4f0b8f51e4f3a0f7b9d2c6f6e3a1b2c3d4e5f60718293a4b size: 527
"""
PULLED = """latest: Pulling from bench/docker-registry-r0
5563fa6c90ed: Pulling fs layer
5563fa6c90ed: Verifying Checksum
5563fa6c90ed: Download complete
5563fa6c90ed: Pull complete
Digest: sha256:0f3c5c7d1e8a7a0e4f0b8f51e4f3a0f7b9d2c6f6e3a1b2c3d4e5f60718293a4b
Status: Downloaded newer image for 127.0.0.1:5000/bench/docker-registry-r0:latest
"""


@pytest.fixture(scope="module")
def docker_push() -> Iterator[ModuleType]:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import docker_push

        yield docker_push
    finally:
        sys.path.remove(str(ROOT / "bench"))


def test_a_full_push_and_a_full_pull_pass(docker_push: ModuleType) -> None:
    assert docker_push.layer_statuses(PUSHED) == {"5563fa6c90ed": "Pushed"}
    docker_push.check_full_push(PUSHED, REF)
    docker_push.check_full_pull(PULLED, REF)


@pytest.mark.parametrize(
    "status", ["Mounted from bench/docker-harborlite-r0", "Layer already exists"]
)
def test_a_mounted_or_skipped_layer_fails_the_push(docker_push: ModuleType, status: str) -> None:
    output = PUSHED.replace("5563fa6c90ed: Pushed", f"5563fa6c90ed: {status}")
    with pytest.raises(RuntimeError, match="not one full upload"):
        docker_push.check_full_push(output, REF)


def test_a_push_with_no_layer_line_fails(docker_push: ModuleType) -> None:
    with pytest.raises(RuntimeError, match="not one full upload"):
        docker_push.check_full_push("latest: digest: sha256:00 size: 527\n", REF)


def test_a_layer_already_local_fails_the_pull(docker_push: ModuleType) -> None:
    output = "latest: Pulling from bench/x\n5563fa6c90ed: Already exists\nDigest: sha256:00\n"
    with pytest.raises(RuntimeError, match="not one full download"):
        docker_push.check_full_pull(output, REF)
