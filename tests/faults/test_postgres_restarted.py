"""PostgreSQL goes away (a restart, a failover) while clients pull and push.

During the outage every request is answered, quickly, and never with a 500: what needs the
database gets 503 in its surface's envelope; pulls of manifests in harborlite's manifest cache
and blob downloads from storage keep working. Afterwards the same harborlite (not restarted)
serves everything again, every push a client saw succeed has its audit entry, and the pulls
served during the outage are audited too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.api.pushing import OCI_MANIFEST, Pusher, _tgz, digest_of, image_manifest
from tests.faults.observing import audit, component, is_envelope
from tests.harness import Harborlite, cleanup, start_harborlite
from tests.support.polling import eventually
from tests.support.processes import PostgresServer, start_postgres, stop_postgres

TIMEOUT = 20.0  # no answer within it is a hang


@dataclass
class Private:
    postgres: PostgresServer
    server: Harborlite


@pytest.fixture(scope="module")
def private() -> Iterator[Private]:
    """A PostgreSQL of this module's own (the shared one is never restarted) under a harborlite."""
    with PostgresServer() as postgres:
        server = start_harborlite(postgres.dsn)
        try:
            yield Private(postgres, server)
        finally:
            cleanup(server)


def image_parts(repository: str, seed: str) -> tuple[bytes, bytes, bytes]:
    """config, layer and manifest of a small image."""
    layer = _tgz({"seed.txt": f"{repository} {seed}".encode()})
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "seed": seed,
        }
    ).encode()
    manifest = image_manifest(config, layer)
    return config, layer, manifest


@dataclass
class Traffic:
    """A client pushing new images and pulling a cached one in a loop, until told to stop."""

    client: httpx.Client
    repository: str
    headers: dict[str, str]
    cached_tag: str
    cached_body: bytes
    stop: threading.Event = field(default_factory=threading.Event)
    statuses: list[tuple[str, int]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    pushed_tags: list[str] = field(default_factory=list)
    cached_pulls: int = 0

    def _check(self, what: str, answer: httpx.Response) -> int:
        self.statuses.append((what, answer.status_code))
        if answer.status_code >= 500 and (
            answer.status_code != 503 or not is_envelope(answer, "UNAVAILABLE")
        ):
            self.bad.append(f"{what}: {answer.status_code} {answer.text[:200]}")
        return answer.status_code

    def _blob(self, data: bytes) -> bool:
        started = self.client.post(f"/v2/{self.repository}/blobs/uploads/", headers=self.headers)
        if self._check("upload start", started) != 202:
            return False
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        done = self.client.put(
            f"{location}{separator}digest={digest_of(data)}",
            content=data,
            headers={**self.headers, "Content-Type": "application/octet-stream"},
        )
        return self._check("upload end", done) == 201

    def run(self) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            try:
                pulled = self.client.get(
                    f"/v2/{self.repository}/manifests/{self.cached_tag}",
                    headers={**self.headers, "Accept": OCI_MANIFEST},
                )
                if self._check("cached pull", pulled) == 200:
                    assert pulled.content == self.cached_body
                    self.cached_pulls += 1
                tag = f"t{number}"
                config, layer, manifest = image_parts(self.repository, tag)
                if not (self._blob(config) and self._blob(layer)):
                    continue
                put = self.client.put(
                    f"/v2/{self.repository}/manifests/{tag}",
                    content=manifest,
                    headers={**self.headers, "Content-Type": OCI_MANIFEST},
                )
                if self._check("manifest push", put) == 201:
                    self.pushed_tags.append(tag)
            except httpx.HTTPError as error:  # a timeout is a hang
                self.bad.append(f"{type(error).__name__}: {error}")


def test_postgres_restart_under_traffic(private: Private) -> None:
    server, postgres = private.server, private.postgres
    project = server.unique("pgdown")
    server.create_project(project)
    repository = f"{project}/app"
    with Pusher(server) as pusher:
        cached = pusher.image(repository, "cached")
        headers = pusher._headers(repository)
    user = server.unique("pguser")
    server.create_user(user)
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        warm = client.get(
            f"/v2/{repository}/manifests/cached", headers={**headers, "Accept": OCI_MANIFEST}
        )
        assert warm.status_code == 200  # now in the manifest cache
        traffic = Traffic(client, repository, headers, "cached", cached.manifest)
        worker = threading.Thread(target=traffic.run)
        worker.start()
        try:
            eventually(lambda: len(traffic.pushed_tags) >= 2, "pushes before the outage")
            stop_postgres(postgres)
            outage_started = len(traffic.statuses)
            eventually(
                lambda: (c := component(server, "database")) and c["status"] == "unhealthy",
                "health says the database is down",
            )
            pulls_before = traffic.cached_pulls
            eventually(lambda: traffic.cached_pulls >= pulls_before + 3, "cached pulls go on")
            during = [
                client.get("/api/v2.0/projects", auth=server.admin),
                client.get(f"/api/v2.0/projects/{project}", auth=server.admin),
                client.get(
                    "/service/token",
                    params={"service": "harbor-registry", "scope": f"repository:{repository}:pull"},
                    auth=(user, "Passw0rd!x"),
                ),
                client.post(
                    "/api/v2.0/projects",
                    auth=server.admin,
                    json={"project_name": server.unique("never"), "metadata": {"public": "false"}},
                ),
            ]
            for answer in during:
                assert answer.status_code == 503, (answer.request.url, answer.text)
                assert is_envelope(answer, "UNAVAILABLE"), answer.text
            blob = client.get(
                f"/v2/{repository}/blobs/{json.loads(cached.manifest)['layers'][0]['digest']}",
                headers=headers,
            )
            assert blob.status_code == 200
            eventually(
                lambda: any(s == 503 for _, s in traffic.statuses[outage_started:]),
                "pushes are refused with 503 during the outage",
            )
            # the pull recorder has tried to write the outage's pulls, and failed
            eventually(
                lambda: "could not record" in server.log_path.read_text(errors="replace"),
                "the pulls of the outage are not written while it lasts",
            )
            pushed_during = len(traffic.pushed_tags)
            start_postgres(postgres)
            eventually(
                lambda: len(traffic.pushed_tags) >= pushed_during + 2, "pushes work again", 60
            )
        finally:
            traffic.stop.set()
            worker.join(60)
    assert not worker.is_alive(), "a client hangs"
    assert traffic.bad == [], traffic.bad
    assert server.process.poll() is None
    assert server.api("GET", f"/projects/{project}", auth=server.admin).status_code == 200
    audited = {row["resource"] for row in audit(server, "push", repository)}
    missing = [t for t in traffic.pushed_tags if f"{repository}:{t}" not in audited]
    assert missing == [], f"pushes without an audit entry: {missing}"
    # the pulls answered from the cache during the outage are written once the database is back
    pulls = eventually(
        lambda: (
            (rows := audit(server, "pull", f"{repository}:cached"))
            and len(rows) >= traffic.cached_pulls + 1
            and rows
        ),
        "every pull is audited",
    )
    assert len(pulls) == traffic.cached_pulls + 1  # the warm-up pull too
