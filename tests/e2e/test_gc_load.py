"""Garbage collection while pushes go on: nothing a successful push wrote is ever lost.

A push loop (skopeo, loopback, bounded in count and time) pushes small images of a few
families (the images of a family share their first layer), deletes some as it goes (one
family entirely, whose shared layer then becomes garbage and is pushed again later), while
collections with no time window start one after the other. A push the fence turned away
(``MANIFEST_BLOB_UNKNOWN``, 404 on a blob being deleted, 503 on an upload completing onto
one) is retried, as a client would. Afterwards every image still pushed pulls back byte for
byte, the deleted images' own blobs are gone from the disk, and ``harborlite reindex`` finds
nothing to change: the index and the registry agree.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ROOT, Harborlite, cleanup, start_harborlite
from tests.support.clients import ClientError, ContainersHome, skopeo_copy
from tests.support.images import (
    BuiltImage,
    assert_same_blobs,
    build_oci_layout,
    layout_blob_digests,
    read_blob,
)

IMAGES = 40  # pushes in the loop
FAMILIES = 4  # images i and j share their first layer when i % FAMILIES == j % FAMILIES
DOOMED_FAMILY = 3  # deleted entirely halfway, then pushed again
REPOSITORIES = 5
PUSH_SECONDS = 150.0  # the loop stops pushing after this, whatever is left
ATTEMPTS = 4  # tries per push
PUSHERS = 3  # skopeo processes at once
MIN_COLLECTIONS = 3  # the loop goes on (pushing survivors again) until this many ran
PAUSE = 0.6  # seconds a pusher waits between its pushes: the loop spans several collections
GARBAGE = 300  # blobs planted before each collection, so each sweep lasts a while
DONE = ("Success", "Error", "Stopped")


@dataclass
class Image:
    number: int
    layout: Path
    built: BuiltImage
    repository: str
    tag: str
    pushed: bool = False
    deleted: bool = False
    busy: bool = False  # being pushed again
    refusals: list[str] = field(default_factory=list)

    @property
    def family(self) -> int:
        return self.number % FAMILIES


@dataclass
class Collections:
    """What the collector thread saw: every execution it started, and how each ended."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    busy: int = 0  # 412: one was running already
    planted: int = 0  # garbage blobs written for the sweeps
    failures: list[str] = field(default_factory=list)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def collector(request: pytest.FixtureRequest) -> Iterator[Harborlite]:
    """A harborlite of its own with no time window: every unreferenced blob is fair game at
    once, the in-flight pushes' too, so only the fence keeps them."""
    database = None
    if request.param == "postgresql":
        database = request.getfixturevalue("postgres").create_database("gc_load")
    server = start_harborlite(database, {"HARBORLITE_GC_TIME_WINDOW_MINUTES": "0"})
    try:
        yield server
    finally:
        cleanup(server)


def blob_data(server: Harborlite, digest: str) -> Path:
    hexdigest = digest.split(":", 1)[1]
    base = server.data_dir / "registry" / "docker" / "registry" / "v2" / "blobs" / "sha256"
    return base / hexdigest[:2] / hexdigest / "data"


def start_gc(server: Harborlite, parameters: dict[str, Any]) -> str | None:
    """The execution's API path, or None when one is running already (412)."""
    answer = server.api(
        "POST",
        "/system/gc/schedule",
        auth=server.admin,
        json={"schedule": {"type": "Manual"}, "parameters": parameters},
    )
    if answer.status_code == 412:
        return None
    assert answer.status_code == 201, answer.text
    return answer.headers["Location"].removeprefix("/api/v2.0")


def wait_gc(server: Harborlite, path: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown: dict[str, Any] = server.api("GET", path, auth=server.admin).json()
        if shown["job_status"] in DONE:
            shown["log"] = server.api("GET", f"{path}/log", auth=server.admin).text
            return shown
        if time.monotonic() > deadline:
            shown["log"] = server.api("GET", f"{path}/log", auth=server.admin).text
            raise AssertionError(f"GC {path} did not finish: {shown}")
        time.sleep(0.1)


def plant_garbage(server: Harborlite, count: int, seed: int, size: int = 256) -> list[str]:
    """``count`` blobs no manifest names, written straight into the registry's storage (as an
    upload nobody finished would leave them): work for the sweep."""
    chance = random.Random(seed)
    digests = []
    for _ in range(count):
        data = chance.randbytes(size)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = blob_data(server, digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        digests.append(digest)
    return digests


def _collect_until(server: Harborlite, stop: threading.Event, seen: Collections) -> None:
    """Start collections back to back (mixed parameters), each with garbage to sweep so the
    marked blobs stay marked a while, until told to stop."""
    chance = random.Random(12)
    while not stop.is_set():
        parameters = {
            "delete_untagged": chance.random() < 0.5,
            "workers": chance.choice((1, 2, 4)),
        }
        try:
            seen.planted += len(plant_garbage(server, GARBAGE, chance.randrange(1 << 30)))
            path = start_gc(server, parameters)
            if path is None:
                seen.busy += 1
                time.sleep(0.2)
                continue
            seen.runs.append(wait_gc(server, path))
        except Exception as error:  # reported by the test, not lost in a thread
            seen.failures.append(repr(error))
            return


def _push(server: Harborlite, image: Image, home: ContainersHome) -> None:
    source = f"oci:{image.layout}:{image.tag}"
    target = f"docker://{server.host}/{image.repository}:{image.tag}"
    for _ in range(ATTEMPTS):
        try:
            skopeo_copy(source, target, creds=server.admin, home=home)
        except ClientError as error:
            image.refusals.append(error.stderr.strip().splitlines()[-1][-400:])
            time.sleep(0.3)
            continue
        image.pushed = True
        return


def _delete(server: Harborlite, image: Image) -> None:
    project, name = image.repository.split("/", 1)
    answer = server.api(
        "DELETE",
        f"/projects/{project}/repositories/{name}/artifacts/{image.built.manifest_digest}",
        auth=server.admin,
    )
    assert answer.status_code == 200, (image.repository, image.tag, answer.text)
    image.deleted = True


def _artifacts(server: Harborlite, project: str) -> dict[str, set[tuple[str, str]]]:
    """repository -> {(digest, tag)} as the API lists them."""
    found: dict[str, set[tuple[str, str]]] = {}
    repositories = server.api(
        "GET", f"/projects/{project}/repositories", auth=server.admin, params={"page_size": 100}
    ).json()
    for repository in repositories:
        name = repository["name"].split("/", 1)[1]
        listed = server.api(
            "GET",
            f"/projects/{project}/repositories/{name}/artifacts",
            auth=server.admin,
            params={"page_size": 100},
        ).json()
        found[repository["name"]] = {
            (artifact["digest"], tag["name"])
            for artifact in listed
            for tag in artifact.get("tags") or []
        } | {(artifact["digest"], "") for artifact in listed if not artifact.get("tags")}
    return found


def _evidence(server: Harborlite, image: Image, runs: list[dict[str, Any]], error: str) -> str:
    """Why an image does not pull back: each of its blobs (what it is to the image, whether
    its data and the repository's link are on the disk, every request that named it, with
    times) and the collections' logs, for the report."""
    v2 = server.data_dir / "registry" / "docker" / "registry" / "v2"
    roles = {image.built.manifest_digest: "manifest", image.built.config_digest: "config"}
    roles.update(
        (digest, f"layer {n}{' (the family layer)' if n == 0 else ''}")
        for n, digest in enumerate(image.built.layer_digests)
    )
    lines = [f"{image.repository}:{image.tag} does not pull back: {error}"]
    log = server.log_path.read_text(errors="replace").splitlines()
    for digest, role in roles.items():
        hexdigest = digest.split(":", 1)[1]
        link = v2 / "repositories" / image.repository / "_layers" / "sha256" / hexdigest / "link"
        data = "present" if blob_data(server, digest).exists() else "GONE"
        linked = "present" if link.exists() else "missing"
        lines.append(f"- {role} {digest}: data {data}, link in {image.repository} {linked}")
        lines += [f"    {line}" for line in log if hexdigest in line][-30:]
    lines.append(f"- requests for {image.repository}:{image.tag}:")
    lines += [f"    {line}" for line in log if f"/manifests/{image.tag} " in line][-10:]
    for run in runs:
        lines.append(f"- GC {run['id']} {run['job_parameters']}: {run['job_status']}")
        lines += [f"    {line}" for line in run["log"].splitlines()]
    return "\n".join(lines)


def _counts(log: str) -> str:
    """A run's "unreferenced/deleted" blob counts, from its log."""
    unreferenced = deleted = "?"
    for line in log.splitlines():
        if " unreferenced (" in line:
            unreferenced = line.split(" named by manifests, ", 1)[1].split(" ", 1)[0]
        if " blobs, freed " in line:
            deleted = line.split("deleted ", 1)[1].split(" ", 1)[0]
    return f"{unreferenced}/{deleted}"


def reindex(server: Harborlite) -> str:
    """``harborlite reindex`` on the server's data folder and database, beside the server."""
    env = {
        **os.environ,
        "HARBORLITE_DATA_DIR": str(server.data_dir),
        "HARBORLITE_ADMIN_PASSWORD": server.admin_password,
    }
    if server.database_url != "sqlite":
        env["HARBORLITE_DATABASE_URL"] = server.database_url
    done = subprocess.run(
        [sys.executable, "-m", "harborlite", "reindex"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_pushes_during_collections_all_pull_back_and_the_index_agrees(
    collector: Harborlite, tmp_path: Path
) -> None:
    server = collector
    project = server.unique("gcload")
    server.create_project(project)
    images: list[Image] = []
    for number in range(IMAGES):
        layout = tmp_path / f"layout-{number}"
        family = number % FAMILIES
        # the first layer is the family's (same seed, index and size: same bytes); the second
        # and the config are the image's own
        built = build_oci_layout(
            layout, f"v{number}", [48_000 + family, 9_000 + 131 * number], seed=500 + family
        )
        images.append(
            Image(number, layout, built, f"{project}/r{number % REPOSITORIES}", f"v{number}")
        )
    families = {built.layer_digests[0] for built in (i.built for i in images)}
    assert len(families) == FAMILIES

    stop = threading.Event()
    seen = Collections()
    collecting = threading.Thread(target=_collect_until, args=(server, stop, seen), daemon=True)
    lock = threading.Lock()
    queue = list(images)
    pushed_count = [0]
    repushes = [0]
    chance = random.Random(14)
    problems: list[str] = []

    def next_image() -> Image | None:
        """The next image to push; once all are, a survivor pushed again (the same bytes to
        the same tag: its blobs asked for, mounted, named again), until enough collections
        ran meanwhile or time is up."""
        with lock:
            if time.monotonic() - started > PUSH_SECONDS:
                return None
            if queue:
                return queue.pop(0)
            if len(seen.runs) >= MIN_COLLECTIONS:
                return None
            idle = [i for i in images if i.pushed and not i.deleted and not i.busy]
            if not idle:
                return None
            again = chance.choice(idle)
            again.busy, again.pushed = True, False
            repushes[0] += 1
            return again

    def pusher(worker: int) -> None:
        # a blob-info cache per pusher: each skopeo mounts what its earlier pushes uploaded
        home = ContainersHome(tmp_path / f"containers-{worker}")
        while (image := next_image()) is not None:
            try:
                _push(server, image, home)
                with lock:
                    image.busy = False
                    pushed_count[0] += 1
                    alive = [i for i in images if i.pushed and not i.deleted and not i.busy]
                    doomed: list[Image] = []
                    if pushed_count[0] % 4 == 0 and len(alive) > 4 and queue:
                        doomed.append(alive[-4])  # garbage while the loop goes on
                    if pushed_count[0] == IMAGES // 2:  # a whole family: its shared layer too
                        doomed += [i for i in alive if i.family == DOOMED_FAMILY]
                    for victim in doomed:
                        if not victim.deleted:
                            _delete(server, victim)
            except Exception as error:
                problems.append(f"{image.tag}: {error!r}")
                return
            time.sleep(PAUSE)

    started = time.monotonic()
    collecting.start()
    pushers = [threading.Thread(target=pusher, args=(n,), daemon=True) for n in range(PUSHERS)]
    try:
        for thread in pushers:
            thread.start()
        for thread in pushers:
            thread.join(timeout=PUSH_SECONDS + 120)
    finally:
        stop.set()
        collecting.join(timeout=180)
    assert not problems, problems
    push_seconds = time.monotonic() - started
    assert not seen.failures, seen.failures
    assert not collecting.is_alive(), "the collector thread did not stop"

    # a push refused by the fence succeeded on a retry; every refusal was one of the fence's
    assert all(i.pushed for i in images), [(i.tag, i.refusals) for i in images if not i.pushed]
    refused = [(i.tag, r) for i in images for r in i.refusals]
    # the collections ran while the loop pushed, and all of them succeeded
    assert len(seen.runs) >= MIN_COLLECTIONS, (len(seen.runs), push_seconds)
    failed = [run for run in seen.runs if run["job_status"] != "Success"]
    assert not failed, failed[0]
    swept = sum(
        int(line.split("deleted ", 1)[1].split(" blobs", 1)[0])
        for run in seen.runs
        for line in run["log"].splitlines()
        if " deleted " in line and " blobs, freed " in line
    )

    rescued = sum(
        run["log"].count("was used meanwhile: kept") + run["log"].count("pushed meanwhile: kept")
        for run in seen.runs
    )

    # once more with nothing pushing: the garbage left behind goes
    final_path = start_gc(server, {"delete_untagged": False})
    assert final_path is not None
    final = wait_gc(server, final_path)
    assert final["job_status"] == "Success", final["log"]

    survivors = [i for i in images if i.pushed and not i.deleted]
    gone = [i for i in images if i.deleted]
    assert len(survivors) >= IMAGES // 2 and len(gone) >= IMAGES // 5
    kept_blobs = set().union(*(layout_blob_digests(i.layout) for i in survivors))
    for image in survivors:
        pulled = tmp_path / f"pulled-{image.number}"
        try:
            skopeo_copy(
                f"docker://{server.host}/{image.repository}:{image.tag}",
                f"oci:{pulled}:{image.tag}",
                creds=server.admin,
            )
        except ClientError as error:
            evidence = _evidence(server, image, [*seen.runs, final], error.stderr.strip())
            kept = ROOT / "test-artifacts" / f"gc-load-{server.database_url.split(':')[0]}.txt"
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(evidence)  # the whole story, beside the screenshots
            raise AssertionError(evidence) from None
        assert layout_blob_digests(pulled) == layout_blob_digests(image.layout), image.tag
        assert_same_blobs(image.layout, pulled)
    # what only deleted images named is off the disk; what a survivor names is on it
    orphaned = set().union(*(layout_blob_digests(i.layout) for i in gone)) - kept_blobs
    assert orphaned
    assert [d for d in orphaned if blob_data(server, d).exists()] == []
    assert [d for d in kept_blobs if not blob_data(server, d).exists()] == []

    expected = {
        (i.built.manifest_digest, i.tag) for i in survivors
    }  # every survivor, tagged, nothing else
    before = _artifacts(server, project)
    assert set().union(*before.values()) == expected
    report = reindex(server)
    assert "removed 0 stale artifacts and 0 stale repositories" in report, report
    assert "created missing projects" not in report, report
    after = _artifacts(server, project)
    assert after == before
    print(
        f"\n{server.database_url.split(':')[0]}: {len(images)} images pushed, {repushes[0]} "
        f"pushed again, in {push_seconds:.1f} s, "
        f"{len(seen.runs)} collections meanwhile ({seen.busy} refused as busy), {swept} blobs "
        f"swept meanwhile ({seen.planted} planted), {rescued} blobs taken back by the fence, "
        f"{len(refused)} pushes turned away and retried: {refused}\nper run: "
        f"{[_counts(run['log']) for run in seen.runs]}\n{report}"
    )


def test_the_fence_keeps_what_a_push_touches_while_the_sweep_runs(
    collector: Harborlite, tmp_path: Path
) -> None:
    """A push's blobs, uploaded but named by no manifest yet, are swept unless the push touches
    them: with a sweep underway (slowed by planted garbage), a ``HEAD`` of one, a
    cross-repository mount of another and the manifest naming them all take them back. A
    client told 404 or ``MANIFEST_BLOB_UNKNOWN`` (the blob already going) uploads it again.
    Either way what was answered holds: a 200 on ``HEAD``, a 201 mount, a 201 manifest mean
    the blobs stay, and the image pulls back byte for byte."""
    server = collector
    project = server.unique("fence")
    server.create_project(project)
    source, target = f"{project}/source", f"{project}/target"
    token = server.token(
        [f"repository:{source}:pull,push", f"repository:{target}:pull,push"], server.admin
    )
    layout = tmp_path / "layout"
    built = build_oci_layout(layout, "v1", [30_000, 20_000, 10_000], seed=777)
    headed, named, mounted = built.layer_digests
    mine = (built.config_digest, headed, named, mounted)
    client = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )

    def upload(repository: str, digest: str) -> None:
        started = client.post(f"/v2/{repository}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        done = client.put(
            f"{location}{separator}digest={digest}",
            content=read_blob(layout, digest),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text

    outcomes: dict[str, int] = {}
    with client:
        for digest in mine:
            upload(source, digest)
        garbage = plant_garbage(server, 1500, seed=778)
        path = start_gc(server, {"delete_untagged": False, "workers": 1})
        assert path is not None
        deadline = time.monotonic() + 60
        while all(blob_data(server, d).exists() for d in garbage):  # until the sweep starts
            assert time.monotonic() < deadline, "the sweep did not start"
            time.sleep(0.01)
        head = client.head(f"/v2/{source}/blobs/{headed}")
        outcomes["HEAD"] = head.status_code
        if head.status_code == 404:  # already going: the client uploads it again
            upload(source, headed)
        mount = client.post(f"/v2/{target}/blobs/uploads/?mount={mounted}&from={source}")
        outcomes["mount"] = mount.status_code
        if mount.status_code != 201:  # already going: a plain upload was started instead
            assert mount.status_code == 202, mount.text
            client.delete(mount.headers["Location"])
            upload(target, mounted)
        for attempt in range(len(mine)):
            put = client.put(
                f"/v2/{source}/manifests/v1",
                content=built.manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )
            outcomes[f"manifest{attempt}"] = put.status_code
            if put.status_code == 201:
                break
            error = put.json()["errors"][0]
            assert error["code"] == "MANIFEST_BLOB_UNKNOWN", put.text
            upload(source, error["detail"]["digest"])
        assert put.status_code == 201, outcomes
        done = wait_gc(server, path)
        linked = client.head(f"/v2/{target}/blobs/{mounted}")
        assert linked.status_code == 200, linked.text
    assert done["job_status"] == "Success", done["log"]
    lost = [d for d in mine if not blob_data(server, d).exists()]
    assert not lost, (lost, outcomes, done["log"][-3000:])
    assert not any(blob_data(server, d).exists() for d in garbage)
    pulled = tmp_path / "pulled"
    skopeo_copy(f"docker://{server.host}/{source}:v1", f"oci:{pulled}:v1", creds=server.admin)
    assert_same_blobs(layout, pulled)
    print(f"\nfence: {outcomes}; {done['log'].count('meanwhile: kept')} kept by the sweep")
