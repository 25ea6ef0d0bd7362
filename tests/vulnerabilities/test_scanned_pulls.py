"""``prevent_vul`` end to end with real scans: a real server, the tests' scanner adapter
process (:mod:`tests.scanning.adapter`, a fixture vulnerability database) and real pulls.
An image is refused until scanned, the scanner's own pull goes through the policy, the scan's
findings block the pull, and allowlisting them lets it through."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.pushing import OCI_MANIFEST, Pushed, Pusher
from tests.harness import Harborlite, own_harborlite
from tests.scanning.support import (
    CLEAN,
    VULNERABLE,
    AdapterProcess,
    artifact_path,
    push_packages,
    register,
    scan_log,
    start_adapter,
    use_scanner,
    wait_for_scan,
)
from tests.vulnerabilities.messages import NOT_SCANNED, TOO_VULNERABLE, refused


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite()


@pytest.fixture(scope="module")
def adapter() -> Iterator[AdapterProcess]:
    process = start_adapter()
    yield process
    process.stop()


def pull(server: Harborlite, pushed: Pushed) -> httpx.Response:
    token = server.token(f"repository:{pushed.repository}:pull", server.admin)
    with server.client() as client:
        return client.get(
            f"/v2/{pushed.repository}/manifests/{pushed.reference}",
            headers={"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST},
        )


def scanned(server: Harborlite, pushed: Pushed) -> None:
    started = server.api("POST", artifact_path(pushed) + "/scan", auth=server.admin)
    assert started.status_code == 202, started.text
    done = wait_for_scan(server, pushed)  # the scanner pulled it under the policy
    assert done["scan_status"] == "Success", scan_log(server, pushed, done["report_id"])


def test_blocked_by_its_scan_until_allowlisted(server: Harborlite, adapter: AdapterProcess) -> None:
    project = server.unique("vscan")
    server.create_project(project)
    metadata = {"prevent_vul": "true", "severity": "high", "reuse_sys_cve_allowlist": "false"}
    put = server.api("PUT", f"/projects/{project}", auth=server.admin, json={"metadata": metadata})
    assert put.status_code == 200, put.text
    use_scanner(server, project, register(server, adapter.url, server.unique("fixture")))

    with Pusher(server) as pusher:
        vulnerable = push_packages(pusher, f"{project}/app", "v1", VULNERABLE)
        clean = push_packages(pusher, f"{project}/app", "clean", CLEAN)
    refused(pull(server, vulnerable), NOT_SCANNED.format("High"))

    scanned(server, vulnerable)
    # openssl: a High and a Medium; zlib1g: a Critical
    refused(pull(server, vulnerable), TOO_VULNERABLE.format(3, "High"))

    allowlist = {"items": [{"cve_id": "CVE-2018-25032"}, {"cve_id": "CVE-2023-0286"}]}
    put = server.api(
        "PUT", f"/projects/{project}", auth=server.admin, json={"cve_allowlist": allowlist}
    )
    assert put.status_code == 200, put.text
    served = pull(server, vulnerable)  # the Medium left is under the threshold
    assert served.status_code == 200 and served.content == vulnerable.manifest

    refused(pull(server, clean), NOT_SCANNED.format("High"))
    scanned(server, clean)
    assert pull(server, clean).status_code == 200
