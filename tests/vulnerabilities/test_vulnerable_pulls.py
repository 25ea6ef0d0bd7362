"""``prevent_vul`` pulls with a real server and registry: Harbor's 412 texts for an image not
scanned, a scan not finished, and one too vulnerable; the allowlists (project and system, and
an expired one) exempting ids; and who is never blocked (a scanner's token, a signer).

The scan reports are written into the server's database as the scanning jobs store them
(:class:`harborlite.scanning.models.ScanReport`), so these tests judge the policy alone; the
scans themselves are tested in ``tests/scanning``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from harborlite.auth.tokens import TokenSigner
from harborlite.scanning.credentials import scanner_token
from tests.api.pushing import OCI_INDEX, OCI_MANIFEST, Pushed, Pusher
from tests.harness import Harborlite
from tests.vulnerabilities.messages import NOT_SCANNED, RULE, TOO_VULNERABLE, refused
from tests.vulnerabilities.reports import store_report

PASSWORD = "Passw0rd!x"
GUEST = 3
ACCEPT = {"Accept": OCI_MANIFEST}
FINDINGS = [
    {"id": "CVE-2024-1111", "package": "openssl", "version": "1.1.1", "severity": "High"},
    {"id": "CVE-2024-2222", "package": "zlib", "version": "1.2", "severity": "Low"},
]


@dataclass
class Project:
    server: Harborlite
    name: str
    guest: tuple[str, str]
    pusher: Pusher

    def pull(
        self,
        pushed: Pushed,
        reference: str | None = None,
        *,
        token: str | None = None,
        method: str = "GET",
        agent: str = "containerd/1.7",
    ) -> httpx.Response:
        repository = pushed.repository
        if token is None:
            token = self.server.token(f"repository:{repository}:pull", self.guest)
        with httpx.Client(base_url=self.server.url, timeout=30) as client:
            return client.request(
                method,
                f"/v2/{repository}/manifests/{reference or pushed.reference}",
                headers={**ACCEPT, "Authorization": f"Bearer {token}", "User-Agent": agent},
            )

    def settings(self, **values: str) -> None:
        for name, value in values.items():
            put = self.server.api(
                "PUT",
                f"/projects/{self.name}/metadatas/{name}",
                auth=self.server.admin,
                json={name: value},
            )
            if put.status_code == 404:
                put = self.server.api(
                    "POST",
                    f"/projects/{self.name}/metadatas/",
                    auth=self.server.admin,
                    json={name: value},
                )
            assert put.status_code == 200, put.text

    def allowlist(self, items: list[str], expires_at: int | None = None) -> None:
        body = {"items": [{"cve_id": i} for i in items], "expires_at": expires_at}
        put = self.server.api(
            "PUT", f"/projects/{self.name}", auth=self.server.admin, json={"cve_allowlist": body}
        )
        assert put.status_code == 200, put.text


@pytest.fixture
def project(harborlite: Harborlite) -> Iterator[Project]:
    name = harborlite.unique("vul")
    harborlite.create_project(name)
    guest = harborlite.unique("vguest")
    harborlite.create_user(guest, PASSWORD)
    harborlite.add_member(name, guest, GUEST)
    with Pusher(harborlite) as pusher:
        found = Project(harborlite, name, (guest, PASSWORD), pusher)
        found.settings(prevent_vul="true", severity="high", reuse_sys_cve_allowlist="false")
        yield found


def test_not_scanned_unfinished_and_too_vulnerable_images_are_refused(project: Project) -> None:
    repository = f"{project.name}/app"
    fresh = project.pusher.image(repository, "fresh", seed="f")
    for reference in ("fresh", fresh.digest):
        refused(project.pull(fresh, reference), NOT_SCANNED.format("High"))
    head = project.pull(fresh, method="HEAD")  # HEAD is checked too, as in Harbor
    assert head.status_code == 412, head.headers

    running = project.pusher.image(repository, "running", seed="r")
    store_report(project.server, running, "Running", [])
    refused(
        project.pull(running),
        f'current image with "Running" status of vulnerability scanning cannot be pulled due '
        f"to configured policy in {RULE.format('High')} To continue with pull, please contact "
        "your project administrator for help.",
    )

    vulnerable = project.pusher.image(repository, "vulnerable", seed="v")
    store_report(project.server, vulnerable, "Success", FINDINGS)
    refused(project.pull(vulnerable), TOO_VULNERABLE.format(2, "High"))
    # an administrator with push rights is refused too (Harbor blocks every puller)
    admin = project.server.token(f"repository:{repository}:pull,push", project.server.admin)
    refused(project.pull(vulnerable, token=admin), TOO_VULNERABLE.format(2, "High"))

    clean = project.pusher.image(repository, "clean", seed="c")
    store_report(project.server, clean, "Success", FINDINGS[1:])  # only a Low
    served = project.pull(clean)
    assert served.status_code == 200 and served.content == clean.manifest

    project.settings(severity="critical")  # seen at once: the kept policy is dropped
    assert project.pull(vulnerable).status_code == 200
    project.settings(severity="low")
    refused(project.pull(clean), TOO_VULNERABLE.format(1, "Low"))
    project.settings(prevent_vul="false")
    for pushed in (fresh, running, vulnerable, clean):
        assert project.pull(pushed).status_code == 200


def test_allowlisted_ids_are_exempt_until_the_allowlist_expires(project: Project) -> None:
    repository = f"{project.name}/svc"
    vulnerable = project.pusher.image(repository, "v1", seed="a")
    store_report(project.server, vulnerable, "Success", FINDINGS)
    refused(project.pull(vulnerable), TOO_VULNERABLE.format(2, "High"))

    project.allowlist(["CVE-2024-1111"])
    assert project.pull(vulnerable).status_code == 200  # the Low one is under the threshold
    project.settings(severity="low")
    refused(project.pull(vulnerable), TOO_VULNERABLE.format(1, "Low"))  # one left counted
    project.settings(severity="high")

    # the system's allowlist applies instead when the project reuses it
    project.settings(reuse_sys_cve_allowlist="true")
    refused(project.pull(vulnerable), TOO_VULNERABLE.format(2, "High"))
    server = project.server
    system = {"items": [{"cve_id": "CVE-2024-1111"}]}
    try:
        put = server.api("PUT", "/system/CVEAllowlist", auth=server.admin, json=system)
        assert put.status_code == 200, put.text
        assert project.pull(vulnerable).status_code == 200
    finally:
        server.api("PUT", "/system/CVEAllowlist", auth=server.admin, json={"items": []})
    project.settings(reuse_sys_cve_allowlist="false")

    # an allowlist that has expired exempts nothing
    project.allowlist(["CVE-2024-1111"], expires_at=int(time.time()) + 2)
    assert project.pull(vulnerable).status_code == 200
    time.sleep(2.5)
    refused(project.pull(vulnerable), TOO_VULNERABLE.format(2, "High"))


def test_scanners_signers_indexes_and_accessories_are_not_blocked(project: Project) -> None:
    repository = f"{project.name}/base"
    fresh = project.pusher.image(repository, "v1", seed="s")
    refused(project.pull(fresh), NOT_SCANNED.format("High"))

    server = project.server
    signer = TokenSigner.load(
        server.data_dir / "token.key",
        server.data_dir / "token.crt",
        issuer="harborlite-token-issuer",
        service="harbor-registry",
        expiration_seconds=300,
    )
    # the scanner pulls what it scans: never blocked
    scanner = scanner_token(signer, "Fixture", repository)
    got = project.pull(fresh, token=scanner)
    assert got.status_code == 200 and got.content == fresh.manifest
    # the same token for another repository does not carry the bypass there
    other = project.pusher.image(f"{project.name}/other", "v1", seed="o")
    assert project.pull(other, token=scanner).status_code == 401

    # a signer (push rights, cosign's User-Agent) fetches the manifest it signs
    pusher = server.token(f"repository:{repository}:pull,push", server.admin)
    assert (
        project.pull(fresh, token=pusher, agent="cosign/v2.2.4 (linux; amd64)").status_code == 200
    )
    # cosign's User-Agent without push rights is refused
    refused(project.pull(fresh, agent="cosign/v2.2.4"), NOT_SCANNED.format("High"))

    # an image index is not judged itself: its platform images are, when pulled
    index = project.pusher.index(repository, "multi")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        token = server.token(f"repository:{repository}:pull", project.guest)
        got = client.get(
            f"/v2/{repository}/manifests/multi",
            headers={"Accept": OCI_INDEX, "Authorization": f"Bearer {token}"},
        )
    assert got.status_code == 200 and got.content == index.manifest, got.text
    child = got.json()["manifests"][0]["digest"]
    refused(project.pull(index, child), NOT_SCANNED.format("High"))

    # a chart is not an image an image scanner reads: not blocked
    chart = project.pusher.chart(f"{project.name}/charts", "demo", "1.0.0")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        token = server.token(f"repository:{chart.repository}:pull", project.guest)
        got = client.get(
            f"/v2/{chart.repository}/manifests/{chart.digest}",
            headers={"Accept": OCI_MANIFEST, "Authorization": f"Bearer {token}"},
        )
    assert got.status_code == 200, got.text
