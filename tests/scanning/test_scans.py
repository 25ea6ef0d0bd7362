"""Scans end to end: a real harborlite, a real adapter process that pulls the image with the
credential it was given, reads its dpkg package list and reports CVEs from a fixture.

Scan through the API (report stored, overview on the list and the artifact, the
vulnerabilities addition), an index through its children, scan on push, a slow report (302 +
Refresh-After honoured), the adapter failing, crashing and down, the time limit, stop, and
what may not be scanned or by whom."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from harborlite.scanning.queries import VULNERABILITY_REPORT
from tests.api.pushing import OCI_MANIFEST, Pusher
from tests.harness import Harborlite, own_harborlite
from tests.scanning.support import (
    CLEAN,
    REPORT_MIME,
    VULNERABLE,
    AdapterProcess,
    artifact_path,
    overview,
    push_packages,
    register,
    running_adapter,
    scan_log,
    start_adapter,
    use_scanner,
    wait_for_scan,
)
from tests.support.processes import free_port
from tests.webhooks.receiver import started_receiver
from tests.webhooks.test_delivery import make_policy

PASSWORD = "Passw0rd!x"
TIME_LIMIT = 6


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite(extra_env={"HARBORLITE_SCAN_TIMEOUT_SECONDS": str(TIME_LIMIT)})


@pytest.fixture(scope="module")
def adapter() -> Iterator[AdapterProcess]:
    process = start_adapter()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def pusher(server: Harborlite) -> Iterator[Pusher]:
    with Pusher(server) as made:
        yield made


REGISTERED: dict[str, str] = {}  # adapter URL -> registration id (a URL is registered once)


def _project(server: Harborlite, adapter_url: str, **metadata: str) -> str:
    project = server.unique("scan")
    server.create_project(project)
    if metadata:
        response = server.api(
            "PUT", f"/projects/{project}", auth=server.admin, json={"metadata": metadata}
        )
        assert response.status_code == 200, response.text
    if adapter_url not in REGISTERED:
        REGISTERED[adapter_url] = register(server, adapter_url, server.unique("adapter"))
    use_scanner(server, project, REGISTERED[adapter_url])
    return project


def _scan(server: Harborlite, pushed: object, **kwargs: object) -> httpx.Response:
    return server.api("POST", artifact_path(pushed) + "/scan", auth=server.admin, **kwargs)  # type: ignore[arg-type]


def test_scan_stores_the_report(
    server: Harborlite, adapter: AdapterProcess, pusher: Pusher
) -> None:
    project = _project(server, adapter.url)
    pushed = push_packages(pusher, f"{project}/app", "v1", VULNERABLE)
    assert overview(server, pushed) == {}  # never scanned
    assert (
        server.api(
            "GET", artifact_path(pushed) + "/additions/vulnerabilities", auth=server.admin
        ).json()
        == {}
    )
    response = _scan(server, pushed)
    assert response.status_code == 202, response.text
    done = wait_for_scan(server, pushed)
    assert done["scan_status"] == "Success", scan_log(server, pushed, done["report_id"])
    assert done["severity"] == "Critical"
    assert done["summary"] == {
        "total": 3,
        "fixable": 2,
        "summary": {"High": 1, "Medium": 1, "Critical": 1},
    }
    assert done["scanner"] == {
        "name": "TestScanner",
        "vendor": "harborlite tests",
        "version": "1.2.3",
    }
    assert done["complete_percent"] == 100 and done["end_time"]

    # the list shows it too, keyed by the report mime type
    short = pushed.repository.split("/", 1)[1]
    listed = server.api(
        "GET",
        f"/projects/{project}/repositories/{short}/artifacts",
        auth=server.admin,
        params={"with_scan_overview": "true"},
    ).json()
    assert listed[0]["scan_overview"][REPORT_MIME]["report_id"] == done["report_id"]
    plain = server.api(
        "GET", f"/projects/{project}/repositories/{short}/artifacts", auth=server.admin
    )
    assert "scan_overview" not in plain.json()[0]

    additions = server.api(
        "GET", artifact_path(pushed) + "/additions/vulnerabilities", auth=server.admin
    ).json()
    report = additions[REPORT_MIME]
    assert {v["id"] for v in report["vulnerabilities"]} == {
        "CVE-2023-0286",
        "CVE-2023-0215",
        "CVE-2018-25032",
    }
    assert report["artifact"]["digest"] == pushed.digest

    # the adapter pulled with a token for that one repository, marked as a scanner's
    (request,) = [r for r in adapter.requests() if r["artifact"]["digest"] == pushed.digest]
    assert request["artifact"] == {
        "repository": pushed.repository,
        "digest": pushed.digest,
        "tag": "",
        "mime_type": OCI_MANIFEST,
    }
    assert request["registry"]["url"] == server.url
    authorization = request["registry"]["authorization"]
    assert authorization.startswith("Bearer ")
    other = push_packages(pusher, f"{project}/other", "v1", CLEAN)
    with server.client() as client:
        own = client.get(
            f"/v2/{pushed.repository}/manifests/{pushed.digest}",
            headers={"Authorization": authorization, "Accept": OCI_MANIFEST},
        )
        assert own.status_code == 200
        elsewhere = client.get(
            f"/v2/{other.repository}/manifests/v1",
            headers={"Authorization": authorization, "Accept": OCI_MANIFEST},
        )
        assert elsewhere.status_code == 401  # the token is for that one repository
        push = client.post(
            f"/v2/{pushed.repository}/blobs/uploads/", headers={"Authorization": authorization}
        )
        assert push.status_code == 401  # and only to pull
    log = scan_log(server, pushed, done["report_id"])
    assert "report received, 3 vulnerabilities" in log


def test_the_token_service_never_grants_scanner_pull(server: Harborlite) -> None:
    import jwt

    project = server.unique("noscan")
    server.create_project(project)
    token = server.token(f"repository:{project}/x:pull,scanner-pull", server.admin)
    access = jwt.decode(token, options={"verify_signature": False})["access"]
    assert access == [{"type": "repository", "name": f"{project}/x", "actions": ["pull"]}]


def test_clean_image_and_rescan(
    server: Harborlite, adapter: AdapterProcess, pusher: Pusher
) -> None:
    project = _project(server, adapter.url)
    pushed = push_packages(pusher, f"{project}/clean", "v1", CLEAN)
    assert _scan(server, pushed).status_code == 202
    first = wait_for_scan(server, pushed)
    assert first["scan_status"] == "Success" and first["severity"] == "None"
    assert first["summary"]["total"] == 0
    assert _scan(server, pushed, json={"scan_type": "vulnerability"}).status_code == 202
    second = wait_for_scan(server, pushed)
    assert second["scan_status"] == "Success" and second["report_id"] != first["report_id"]


def test_an_index_is_scanned_through_its_children(
    server: Harborlite, adapter: AdapterProcess, pusher: Pusher
) -> None:
    import json as jsonlib

    from tests.api.pushing import OCI_INDEX, Pushed

    project = _project(server, adapter.url)
    repository = f"{project}/multi"
    children = [
        push_packages(pusher, repository, None, VULNERABLE, seed="amd64"),
        push_packages(pusher, repository, None, CLEAN, seed="arm64"),
    ]
    body = jsonlib.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": c.digest, "size": len(c.manifest)}
                for c in children
            ],
        }
    ).encode()
    digest = pusher.manifest(repository, "v1", body, OCI_INDEX, pusher._headers(repository))
    index = Pushed(repository, "v1", digest, body, len(body))
    assert _scan(server, index).status_code == 202
    done = wait_for_scan(server, index)
    assert done["scan_status"] == "Success"
    assert done["summary"]["total"] == 3 and done["severity"] == "Critical"
    for child in children:
        assert overview(server, child)[REPORT_MIME]["scan_status"] == "Success"
    additions = server.api(
        "GET", artifact_path(index) + "/additions/vulnerabilities", auth=server.admin
    ).json()
    assert len(additions[REPORT_MIME]["vulnerabilities"]) == 3


def test_scan_on_push(server: Harborlite, adapter: AdapterProcess, pusher: Pusher) -> None:
    project = _project(server, adapter.url, auto_scan="true")
    pushed = push_packages(pusher, f"{project}/auto", "v1", VULNERABLE)
    done = wait_for_scan(server, pushed)
    assert done["scan_status"] == "Success" and done["summary"]["total"] == 3
    request = [r for r in adapter.requests() if r["artifact"]["digest"] == pushed.digest]
    assert request and request[0]["artifact"]["tag"] == "v1"
    # without auto_scan nothing is scanned
    quiet = _project(server, adapter.url)
    other = push_packages(pusher, f"{quiet}/manual", "v1", VULNERABLE, seed="quiet")
    time.sleep(2)
    assert overview(server, other) == {}


def test_slow_report_honours_refresh_after(server: Harborlite, pusher: Pusher) -> None:
    with running_adapter("--slow", "3") as slow:
        project = _project(server, slow.url)
        pushed = push_packages(pusher, f"{project}/slow", "v1", VULNERABLE, seed="slow")
        started = time.monotonic()
        assert _scan(server, pushed).status_code == 202
        time.sleep(1.5)
        running = overview(server, pushed)[REPORT_MIME]
        assert running["scan_status"] == "Running"
        assert "summary" not in running
        done = wait_for_scan(server, pushed)
        assert done["scan_status"] == "Success", scan_log(server, pushed, done["report_id"])
        assert time.monotonic() - started >= 3


def test_adapter_failure_is_an_error(server: Harborlite, pusher: Pusher) -> None:
    with running_adapter("--fail") as failing:
        project = _project(server, failing.url)
        pushed = push_packages(pusher, f"{project}/fail", "v1", VULNERABLE, seed="fail")
        assert _scan(server, pushed).status_code == 202
        done = wait_for_scan(server, pushed)
        assert done["scan_status"] == "Error"
        assert "summary" not in done
        log = scan_log(server, pushed, done["report_id"])
        assert "the scanner adapter failed the scan (500)" in log
        assert "the vulnerability database is corrupt" in log
        assert (
            server.api(
                "GET", artifact_path(pushed) + "/additions/vulnerabilities", auth=server.admin
            ).json()
            == {}
        )


def test_adapter_crash_is_an_error_with_a_clear_log(server: Harborlite, pusher: Pusher) -> None:
    with running_adapter("--crash") as crashing:
        project = _project(server, crashing.url)
        pushed = push_packages(pusher, f"{project}/crash", "v1", VULNERABLE, seed="crash")
        assert _scan(server, pushed).status_code == 202
        done = wait_for_scan(server, pushed)
        assert crashing.process.wait(timeout=10) == 3  # it really died mid-scan
        assert done["scan_status"] == "Error"
        log = scan_log(server, pushed, done["report_id"])
        assert f"the scanner adapter at {crashing.url} cannot be reached" in log
        assert "the adapter stopped answering mid-scan" in log


def test_adapter_down_is_an_error(server: Harborlite, pusher: Pusher) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    project = _project(server, down)
    pushed = push_packages(pusher, f"{project}/down", "v1", VULNERABLE, seed="down")
    assert _scan(server, pushed).status_code == 202
    done = wait_for_scan(server, pushed)
    assert done["scan_status"] == "Error"
    assert f"the scanner adapter at {down} cannot be reached" in scan_log(
        server, pushed, done["report_id"]
    )


def test_time_limit(server: Harborlite, pusher: Pusher) -> None:
    with running_adapter("--slow", "120") as stuck:
        project = _project(server, stuck.url)
        pushed = push_packages(pusher, f"{project}/stuck", "v1", VULNERABLE, seed="stuck")
        started = time.monotonic()
        assert _scan(server, pushed).status_code == 202
        done = wait_for_scan(server, pushed, timeout=TIME_LIMIT + 20)
        assert done["scan_status"] == "Error"
        assert time.monotonic() - started >= TIME_LIMIT
        log = scan_log(server, pushed, done["report_id"])
        assert f"no report within {TIME_LIMIT} s (the scan time limit)" in log


def test_stop_a_running_scan(server: Harborlite, pusher: Pusher) -> None:
    with running_adapter("--slow", "120") as stuck:
        project = _project(server, stuck.url)
        pushed = push_packages(pusher, f"{project}/stop", "v1", VULNERABLE, seed="stop")
        nothing = server.api("POST", artifact_path(pushed) + "/scan/stop", auth=server.admin)
        assert nothing.status_code == 412, nothing.text  # no scan running yet
        assert _scan(server, pushed).status_code == 202
        again = _scan(server, pushed)
        assert again.status_code == 409, again.text  # one scan at a time
        assert "already" in again.json()["errors"][0]["message"]
        time.sleep(1)
        stopped = server.api("POST", artifact_path(pushed) + "/scan/stop", auth=server.admin)
        assert stopped.status_code == 202, stopped.text
        done = wait_for_scan(server, pushed, timeout=15)
        assert done["scan_status"] == "Stopped"
        assert "stopped" in scan_log(server, pushed, done["report_id"])


def test_refusals(server: Harborlite, adapter: AdapterProcess, pusher: Pusher) -> None:
    # no scanner at all for the project (and no default): 412, nothing started
    lonely = server.unique("lonely")
    server.create_project(lonely)
    pushed = push_packages(pusher, f"{lonely}/img", "v1", CLEAN, seed="lonely")
    default = [
        s
        for s in server.api("GET", "/scanners", auth=server.admin, params={"page_size": 100}).json()
        if s["is_default"]
    ]
    for scanner in default:
        server.api(
            "PATCH", f"/scanners/{scanner['uuid']}", auth=server.admin, json={"is_default": False}
        )
    refused = _scan(server, pushed)
    assert refused.status_code == 412, refused.text
    assert "no scanner is configured for project" in refused.json()["errors"][0]["message"]
    assert overview(server, pushed) == {}

    project = _project(server, adapter.url)
    image = push_packages(pusher, f"{project}/img", "v1", CLEAN, seed="refusals")
    # a chart is not scanned
    chart = pusher.chart(f"{project}/chart", "mychart", "1.0.0")
    not_image = _scan(server, chart)
    assert not_image.status_code == 400 and "cannot be scanned" in not_image.text
    # a bad scan_type
    bad = _scan(server, image, json={"scan_type": "malware"})
    assert bad.status_code == 400 and "scan_type" in bad.text
    assert overview(server, image) == {}
    # a guest may not scan (but reads the overview)
    guest = server.unique("g")
    server.create_user(guest, PASSWORD)
    server.add_member(project, guest, 3)
    denied = server.api("POST", artifact_path(image) + "/scan", auth=(guest, PASSWORD))
    assert denied.status_code == 403, denied.text
    assert overview(server, image) == {}
    anonymous = server.api("POST", artifact_path(image) + "/scan")
    assert anonymous.status_code in (401, 404)
    # a disabled scanner
    off_url = adapter.url.replace("127.0.0.1", "localhost")
    registration = register(server, off_url, server.unique("off"), disabled=True)
    use_scanner(server, project, registration)
    disabled = _scan(server, image)
    assert disabled.status_code == 412 and "is disabled" in disabled.text
    # an unknown report's log
    missing = server.api("GET", artifact_path(image) + "/scan/nope/log", auth=server.admin)
    assert missing.status_code == 404


def test_pull_policies_never_block_the_scanner(
    server: Harborlite, adapter: AdapterProcess, pusher: Pusher
) -> None:
    """Signed-only and prevent_vul projects: an unsigned, unscanned image is refused to
    clients, yet the scanner's pull (its token grants ``scanner-pull``) goes through."""
    project = _project(
        server,
        adapter.url,
        enable_content_trust_cosign="true",
        prevent_vul="true",
        severity="low",
    )
    pushed = push_packages(pusher, f"{project}/guarded", "v1", VULNERABLE)
    token = server.token(f"repository:{pushed.repository}:pull", server.admin)
    with server.client() as client:
        refused = client.get(
            f"/v2/{pushed.repository}/manifests/v1",
            headers={"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST},
        )
    assert refused.status_code == 412, refused.text
    assert _scan(server, pushed).status_code == 202
    done = wait_for_scan(server, pushed)
    assert done["scan_status"] == "Success", scan_log(server, pushed, done["report_id"])


def test_scan_ends_are_told_to_the_projects_webhooks(
    server: Harborlite, adapter: AdapterProcess, pusher: Pusher
) -> None:
    """A finished scan sends Harbor's SCANNING_COMPLETED (with the scan overview), a failed
    one SCANNING_FAILED, to the project's webhook policies that want them."""
    with started_receiver() as receiver, running_adapter("--fail") as failing:
        good = _project(server, adapter.url)
        bad = _project(server, failing.url)
        for project in (good, bad):
            make_policy(
                server,
                project,
                [{"type": "http", "address": f"{receiver.url}/ok/{project}"}],
                ["SCANNING_COMPLETED", "SCANNING_FAILED"],
            )
        scanned = push_packages(pusher, f"{good}/app", "v1", VULNERABLE, seed="hooked")
        broken = push_packages(pusher, f"{bad}/app", "v1", VULNERABLE, seed="hooked-bad")
        assert _scan(server, scanned).status_code == 202
        assert _scan(server, broken).status_code == 202
        completed = receiver.of_type(f"/ok/{good}", "SCANNING_COMPLETED").json()
        failed = receiver.of_type(f"/ok/{bad}", "SCANNING_FAILED").json()
    (resource,) = completed["event_data"]["resources"]
    assert resource["digest"] == scanned.digest
    overview = resource["scan_overview"][VULNERABILITY_REPORT]
    assert overview["scan_status"] == "Success" and overview["severity"] == "Critical"
    assert completed["event_data"]["repository"]["repo_full_name"] == f"{good}/app"
    (resource,) = failed["event_data"]["resources"]
    assert resource["scan_overview"][VULNERABILITY_REPORT]["scan_status"] == "Error"
