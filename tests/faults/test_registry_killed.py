"""The registry child is killed in the middle of a push (SIGKILL, as the OOM killer would).

The client sees an error in the registry's envelope (or its connection is cut), harborlite's
health says the registry is down until the supervisor has started it again, nothing is indexed
for the failed attempt, and the push tried again succeeds, with no restart of harborlite.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.api.pushing import Pusher, digest_of
from tests.faults.observing import artifacts, audit, component, is_envelope
from tests.harness import Harborlite, own_harborlite
from tests.support.polling import eventually
from tests.support.processes import child_pids, command_line

CHUNK = 1 << 20
LAYER_CHUNKS = 48  # a 48 MiB layer: the registry dies with most of it still to come


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    # the proxy path: a PATCH that meets a dead registry (direct uploads never reach it)
    yield from own_harborlite(extra_env={"HARBORLITE_DIRECT_UPLOADS": "off"})


def registry_pid(server: Harborlite) -> int | None:
    """The pid of the registry harborlite supervises (its child running docker-registry)."""
    for pid in child_pids(server.process.pid):
        argv = command_line(pid)
        if argv and argv[0].endswith("docker-registry") and "serve" in argv:
            return pid
    return None


def test_registry_killed_during_a_blob_upload(server: Harborlite) -> None:
    project = server.unique("regkill")
    server.create_project(project)
    repository = f"{project}/app"
    layer = os.urandom(CHUNK) * LAYER_CHUNKS
    first_pid = registry_pid(server)
    assert first_pid is not None, "no registry child found"

    with Pusher(server) as pusher:
        headers = pusher._headers(repository)
        started = pusher.client.post(f"/v2/{repository}/blobs/uploads/", headers=headers)
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        halfway = threading.Event()
        seen_down = threading.Event()

        def body() -> Iterator[bytes]:
            for index in range(LAYER_CHUNKS):
                if index == LAYER_CHUNKS // 4:
                    halfway.set()
                    seen_down.wait(30)  # the rest only once the registry is dead
                yield layer[index * CHUNK : (index + 1) * CHUNK]

        outcome: list[httpx.Response | Exception] = []

        def upload() -> None:
            try:
                outcome.append(
                    pusher.client.patch(
                        location,
                        content=body(),
                        headers={**headers, "Content-Type": "application/octet-stream"},
                    )
                )
            except httpx.HTTPError as error:
                outcome.append(error)

        sender = threading.Thread(target=upload)
        sender.start()
        assert halfway.wait(30), "the upload did not start"
        os.kill(first_pid, signal.SIGKILL)
        down = eventually(
            lambda: (c := component(server, "registry")) and c["status"] == "unhealthy" and c,
            "health says the registry is down",
        )
        assert down["error"], down
        seen_down.set()
        sender.join(60)
        assert not sender.is_alive(), "the client hangs"
        (answer,) = outcome
        if isinstance(answer, httpx.Response):  # else the connection was cut: also an error
            assert answer.status_code >= 500, answer.text
            assert is_envelope(answer), answer.text

        eventually(
            lambda: (c := component(server, "registry")) and c["status"] == "healthy",
            "health says the registry is back",
        )
        new_pid = registry_pid(server)
        assert new_pid is not None and new_pid != first_pid
        assert server.process.poll() is None, "harborlite itself must not restart"
        assert artifacts(server, project, "app") == []

        # the same push again, whole, through the same harborlite
        digest = pusher.blob(repository, layer, headers)
        assert digest == digest_of(layer)
        pushed = pusher.image(repository, "v1", seed="after-kill")
    found = artifacts(server, project, "app")
    assert [a["digest"] for a in found] == [pushed.digest]
    assert len(audit(server, "push", repository)) == 1
    token = server.token(f"repository:{repository}:pull", server.admin)
    pulled = httpx.get(
        f"{server.url}/v2/{repository}/blobs/{digest}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert pulled.status_code == 200 and pulled.content == layer
