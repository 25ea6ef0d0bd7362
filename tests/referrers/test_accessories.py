"""Harbor's accessories: classified by type, shown under their subject (not as artifacts of
their own), listed by ``/accessories`` and ``with_accessory=true``, deleted with the subject."""

from __future__ import annotations

from tests.api.pushing import Pusher
from tests.api.test_artifacts import registry_status
from tests.harness import Harborlite
from tests.referrers.referring import (
    COSIGN_BUNDLE,
    HARBOR_SBOM,
    NOTATION,
    SPDX,
    push_legacy_cosign_signature,
    push_referrer,
)

COSIGN_SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"


def test_accessories_are_classified_shown_under_their_subject_and_deleted_with_it(
    harborlite: Harborlite,
) -> None:
    admin = harborlite.admin
    project = harborlite.unique("acc")
    harborlite.create_project(project)
    repository = f"{project}/app"
    with Pusher(harborlite) as pusher:
        image = pusher.image(repository, "v1")
        subject = (image.digest, len(image.manifest))
        legacy = push_legacy_cosign_signature(pusher, repository, image.digest)
        pushed = {
            "signature.notation": push_referrer(pusher, repository, subject, NOTATION, b"jws"),
            "bundle": push_referrer(pusher, repository, subject, COSIGN_BUNDLE, b"{}"),
            "cosign2": push_referrer(pusher, repository, subject, COSIGN_SIG, b"sig"),
            "sbom.harbor": push_referrer(pusher, repository, subject, HARBOR_SBOM, b"sbom"),
            "subject.accessory": push_referrer(pusher, repository, subject, SPDX, b"spdx"),
        }
        # a signature of the SBOM: an accessory of an accessory
        sbom = pushed["sbom.harbor"]
        nested = push_referrer(
            pusher, repository, (sbom.digest, len(sbom.manifest)), NOTATION, b"n"
        )
        other = pusher.image(repository, "v2", seed="unsigned")
    assert "OCI-Subject" not in legacy.answer.headers  # the legacy layout names no subject

    base = f"/projects/{project}/repositories/app/artifacts"
    listed = harborlite.api("GET", base, auth=admin).json()
    assert sorted(a["digest"] for a in listed) == sorted([image.digest, other.digest])
    assert all(a["accessories"] == [] for a in listed)

    expected = {
        legacy.digest: "signature.cosign",
        pushed["signature.notation"].digest: "signature.notation",
        pushed["bundle"].digest: "signature.cosign",
        pushed["cosign2"].digest: "signature.cosign",
        sbom.digest: "sbom.harbor",
        pushed["subject.accessory"].digest: "subject.accessory",
    }
    with_accessory = harborlite.api(
        "GET", base, params={"with_accessory": "true"}, auth=admin
    ).json()
    by_digest = {a["digest"]: a for a in with_accessory}
    assert by_digest[other.digest]["accessories"] == []
    shown = by_digest[image.digest]["accessories"]
    assert {a["digest"]: a["type"] for a in shown} == expected
    for accessory in shown:
        assert accessory["subject_artifact_id"] == by_digest[image.digest]["id"]
        assert accessory["subject_artifact_digest"] == image.digest
        assert accessory["subject_artifact_repo"] == repository
        assert accessory["artifact_id"] == accessory["id"] > 0 and accessory["size"] > 0
    one = harborlite.api("GET", f"{base}/v1", params={"with_accessory": "true"}, auth=admin)
    assert {a["digest"] for a in one.json()["accessories"]} == set(expected)

    answer = harborlite.api("GET", f"{base}/v1/accessories", auth=admin)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Total-Count"] == "6"
    assert {a["digest"]: a["type"] for a in answer.json()} == expected
    cosign = harborlite.api(
        "GET",
        f"{base}/v1/accessories",
        params={"q": "type=signature.cosign", "page_size": "2"},
        auth=admin,
    )
    assert cosign.headers["X-Total-Count"] == "3" and len(cosign.json()) == 2
    assert all(a["type"] == "signature.cosign" for a in cosign.json())
    (of_sbom,) = harborlite.api("GET", f"{base}/{sbom.digest}/accessories", auth=admin).json()
    assert of_sbom["digest"] == nested.digest and of_sbom["type"] == "signature.notation"

    deleted = harborlite.api("DELETE", f"{base}/v1", auth=admin)
    assert deleted.status_code == 200, deleted.text
    remaining = harborlite.api("GET", base, params={"with_accessory": "true"}, auth=admin).json()
    assert [a["digest"] for a in remaining] == [other.digest]
    for digest in [*expected, nested.digest]:
        assert registry_status(harborlite, repository, digest) == 404, digest
        gone = harborlite.api("GET", f"{base}/{digest}", auth=admin)
        assert gone.status_code == 404, digest
    assert registry_status(harborlite, repository, legacy.digest) == 404
    tags = harborlite.api(
        "GET", f"/projects/{project}/repositories/app/artifacts/v2/tags", auth=admin
    )
    assert [t["name"] for t in tags.json()] == ["v2"]


def test_copying_an_artifact_copies_its_accessories(harborlite: Harborlite) -> None:
    admin = harborlite.admin
    source, target = harborlite.unique("accsrc"), harborlite.unique("accdst")
    harborlite.create_project(source)
    harborlite.create_project(target)
    repository = f"{source}/app"
    with Pusher(harborlite) as pusher:
        image = pusher.image(repository, "v1")
        legacy = push_legacy_cosign_signature(pusher, repository, image.digest)
        bundle = push_referrer(
            pusher, repository, (image.digest, len(image.manifest)), COSIGN_BUNDLE, b"{}"
        )
    copied = harborlite.api(
        "POST",
        f"/projects/{target}/repositories/app/artifacts",
        params={"from": f"{repository}:v1"},
        auth=admin,
    )
    assert copied.status_code == 201, copied.text
    base = f"/projects/{target}/repositories/app/artifacts"
    (listed,) = harborlite.api("GET", base, params={"with_accessory": "true"}, auth=admin).json()
    assert listed["digest"] == image.digest
    assert {a["digest"]: a["type"] for a in listed["accessories"]} == {
        legacy.digest: "signature.cosign",
        bundle.digest: "signature.cosign",
    }
    sig_tag = image.digest.replace(":", "-") + ".sig"
    assert registry_status(harborlite, f"{target}/app", sig_tag) == 200
    assert registry_status(harborlite, f"{target}/app", bundle.digest) == 200
