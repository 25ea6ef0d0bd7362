"""A ``/v2/`` manifest DELETE of a subject takes its accessories with it (recursively: a
signature of its SBOM too), in the registry and in the index, as the API's delete does; deleting
an accessory itself leaves its subject, as in Harbor."""

from __future__ import annotations

import httpx

from tests.api.pushing import Pusher
from tests.api.test_artifacts import registry_status
from tests.harness import Harborlite
from tests.referrers.referring import (
    COSIGN_BUNDLE,
    HARBOR_SBOM,
    NOTATION,
    push_legacy_cosign_signature,
    push_referrer,
)


def v2_delete(server: Harborlite, repository: str, digest: str) -> httpx.Response:
    token = server.token(f"repository:{repository}:delete", server.admin)
    with server.client() as client:
        return client.delete(
            f"/v2/{repository}/manifests/{digest}", headers={"Authorization": f"Bearer {token}"}
        )


def test_a_v2_delete_of_a_subject_deletes_its_accessories(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    project = harborlite.unique("v2del")
    harborlite.create_project(project)
    repository = f"{project}/app"
    with Pusher(harborlite) as pusher:
        image = pusher.image(repository, "v1")
        kept = pusher.image(repository, "v2", seed="kept")
        subject = (image.digest, len(image.manifest))
        legacy = push_legacy_cosign_signature(pusher, repository, image.digest)
        bundle = push_referrer(pusher, repository, subject, COSIGN_BUNDLE, b"{}")
        sbom = push_referrer(pusher, repository, subject, HARBOR_SBOM, b"sbom")
        nested = push_referrer(
            pusher, repository, (sbom.digest, len(sbom.manifest)), NOTATION, b"n"
        )
        kept_sig = push_referrer(
            pusher, repository, (kept.digest, len(kept.manifest)), NOTATION, b"k"
        )

    answer = v2_delete(harborlite, repository, image.digest)
    assert answer.status_code == 202, answer.text
    base = f"/projects/{project}/repositories/app/artifacts"
    for digest in (image.digest, legacy.digest, bundle.digest, sbom.digest, nested.digest):
        assert registry_status(harborlite, repository, digest) == 404, digest
        assert harborlite.api("GET", f"{base}/{digest}", auth=admin).status_code == 404, digest
    sig_tag = image.digest.replace(":", "-") + ".sig"
    assert registry_status(harborlite, repository, sig_tag) == 404
    listed = harborlite.api("GET", base, params={"with_accessory": "true"}, auth=admin).json()
    assert [(a["digest"], [s["digest"] for s in a["accessories"]]) for a in listed] == [
        (kept.digest, [kept_sig.digest])
    ]
    audit = harborlite.api(
        "GET", "/audit-logs", params={"q": "operation=delete", "page_size": "50"}, auth=admin
    )
    resources = {entry["resource"] for entry in audit.json()}
    assert f"{repository}@{nested.digest}" in resources, resources


def test_deleting_an_accessory_leaves_its_subject(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    project = harborlite.unique("accdel")
    harborlite.create_project(project)
    repository = f"{project}/app"
    with Pusher(harborlite) as pusher:
        image = pusher.image(repository, "v1")
        subject = (image.digest, len(image.manifest))
        by_v2 = push_referrer(pusher, repository, subject, NOTATION, b"one")
        by_api = push_referrer(pusher, repository, subject, COSIGN_BUNDLE, b"{}")
    assert v2_delete(harborlite, repository, by_v2.digest).status_code == 202
    base = f"/projects/{project}/repositories/app/artifacts"
    deleted = harborlite.api("DELETE", f"{base}/{by_api.digest}", auth=admin)
    assert deleted.status_code == 200, deleted.text
    assert registry_status(harborlite, repository, image.digest) == 200
    (listed,) = harborlite.api("GET", base, params={"with_accessory": "true"}, auth=admin).json()
    assert listed["digest"] == image.digest and listed["accessories"] == []
