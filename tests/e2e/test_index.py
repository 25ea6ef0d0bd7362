"""What the artifact index and the audit log record of pulls: every manifest GET counts, HEAD
does not, whether it was answered by the registry or from harborlite's manifest cache."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.e2e.conftest import Team
from tests.harness import Harborlite
from tests.support.clients import skopeo_copy
from tests.support.images import BuiltImage

ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def test_pulls_are_counted_and_audited(
    harborlite: Harborlite, team: Team, image: tuple[Path, BuiltImage]
) -> None:
    layout, built = image
    repository = f"{team.project}/counted"
    skopeo_copy(
        f"oci:{layout}:v1",
        f"docker://{harborlite.host}/{repository}:v1",
        creds=team.creds("developer"),
    )
    token = harborlite.token(f"repository:{repository}:pull", team.creds("guest"))
    headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
    with httpx.Client(base_url=harborlite.url, headers=headers) as client:
        for reference in ["v1"] * 4 + [built.manifest_digest] * 3:
            assert client.get(f"/v2/{repository}/manifests/{reference}").status_code == 200
        for _ in range(5):
            assert client.head(f"/v2/{repository}/manifests/v1").status_code == 200

    def state() -> tuple[int, int]:
        repo = harborlite.api(
            "GET", f"/projects/{team.project}/repositories/counted", auth=harborlite.admin
        ).json()
        logs = harborlite.api(
            "GET",
            "/audit-logs",
            auth=harborlite.admin,
            params={"q": f"operation=pull,resource=~{repository}", "page_size": 100},
        )
        return int(repo["pull_count"]), int(logs.headers["X-Total-Count"])

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and state() != (7, 7):
        time.sleep(0.2)
    assert state() == (7, 7)  # 7 GETs; the 5 HEADs count for nothing
    artifact = harborlite.api(
        "GET",
        f"/projects/{team.project}/repositories/counted/artifacts/{built.manifest_digest}",
        auth=harborlite.admin,
    ).json()
    assert artifact["pull_time"] >= artifact["push_time"]
