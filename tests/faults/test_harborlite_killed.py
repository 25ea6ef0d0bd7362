"""harborlite is SIGKILLed during a chunked upload and started again on the same data folder.

The client resumes its upload where the registry has it and the push completes. Logins, pushes
and deletes were written before their clients were answered, so none is lost; pulls are written
in batches (:mod:`harborlite.artifacts.pulls`) and those still queued at the kill are the only
loss, which this test measures (the number goes to the test's output).
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import httpx

from tests.api.pushing import OCI_MANIFEST, Pusher, digest_of
from tests.faults.observing import audit
from tests.faults.test_registry_killed import registry_pid
from tests.harness import cleanup, start_harborlite
from tests.support.polling import eventually
from tests.support.processes import free_port

CHUNK = 1 << 20
PULLS = 200


def test_sigkill_during_a_chunked_upload() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="harborlite-kill-"))
    env = {"HARBORLITE_PORT": str(free_port())}
    server = start_harborlite(extra_env=env, data_dir=data_dir)
    try:
        project = server.unique("killed")
        server.create_project(project)
        repository = f"{project}/app"
        user = server.unique("killuser")
        server.create_user(user)
        server.add_member(project, user, 1)
        creds = (user, "Passw0rd!x")
        with server.client(creds) as client:  # docker login: a token asked with no scope
            assert client.get("/service/token", params={"service": "harbor-registry"}).is_success
        with Pusher(server, creds) as pusher:
            kept = pusher.image(repository, "kept")
            doomed = pusher.image(repository, "doomed", seed="doomed")
            headers = pusher._headers(repository)
            may_delete = server.token(f"repository:{repository}:delete", creds)
            deleted = pusher.client.delete(
                f"/v2/{repository}/manifests/{doomed.digest}",
                headers={"Authorization": f"Bearer {may_delete}"},
            )
            assert deleted.status_code == 202, deleted.text

            layer = os.urandom(3 * CHUNK)
            started = pusher.client.post(f"/v2/{repository}/blobs/uploads/", headers=headers)
            assert started.status_code == 202, started.text
            first = pusher.client.patch(
                started.headers["Location"],
                content=layer[:CHUNK],
                headers={**headers, "Content-Type": "application/octet-stream"},
            )
            assert first.status_code == 202, first.text
            location = first.headers["Location"]

            accept = {**headers, "Accept": OCI_MANIFEST}
            burst = time.monotonic()
            for _ in range(PULLS):  # answered from the manifest cache, audited in batches
                pulled = pusher.client.get(f"/v2/{repository}/manifests/kept", headers=accept)
                assert pulled.status_code == 200
            burst = time.monotonic() - burst
            child = registry_pid(server)
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(10)
            # the registry child goes with it (it asked the kernel for SIGTERM at its parent's
            # death): nothing of the old harborlite touches the storage any more
            eventually(lambda: child is None or not Path(f"/proc/{child}").exists(), "no orphan")

            server = start_harborlite(extra_env=env, data_dir=data_dir)
            pusher.client = httpx.Client(base_url=server.url, timeout=30)
            status = pusher.client.get(location, headers=headers)  # where the upload is
            assert status.status_code == 204, status.text
            assert status.headers["Range"] == f"0-{CHUNK - 1}"
            rest = pusher.client.patch(
                status.headers["Location"],
                content=layer[CHUNK:],
                headers={**headers, "Content-Type": "application/octet-stream"},
            )
            assert rest.status_code == 202, rest.text
            done_at = rest.headers["Location"]
            separator = "&" if "?" in done_at else "?"
            done = pusher.client.put(
                f"{done_at}{separator}digest={digest_of(layer)}", headers=headers
            )
            assert done.status_code == 201, done.text
            after = pusher.image(repository, "after", seed="after")

        assert audit(server, "login", user), "the login is lost"
        pushes = {row["resource"] for row in audit(server, "push", repository)}
        assert {f"{repository}:kept", f"{repository}:doomed", f"{repository}:after"} <= pushes
        assert audit(server, "delete", f"{repository}@{doomed.digest}"), "the delete is lost"
        recorded = len(audit(server, "pull", f"{repository}:kept"))
        lost = PULLS - recorded
        print(
            f"\npull audit entries lost at the SIGKILL: {lost} of {PULLS} "
            f"(pulled in {burst:.2f} s, the kill right after the last answer)"
        )
        assert 0 <= lost <= PULLS
        assert after.digest != kept.digest
    finally:
        cleanup(server)
