"""``GET /v2/<name>/referrers/<digest>`` from harborlite's index, and ``OCI-Subject`` on the
manifest PUT: a real harborlite in front of the real registry, pushed to with httpx."""

from __future__ import annotations

import json

import httpx

from tests.api.pushing import OCI_INDEX, OCI_MANIFEST, Pusher, digest_of
from tests.harness import Harborlite
from tests.referrers.referring import (
    COSIGN_BUNDLE,
    HARBOR_SBOM,
    SPDX,
    push_referrer,
    put_manifest,
)

PASSWORD = "Passw0rd!x"


def referrers(
    server: Harborlite,
    repository: str,
    digest: str,
    params: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    path: str | None = None,
) -> httpx.Response:
    token = server.token(f"repository:{repository}:pull", auth or server.admin)
    with server.client() as client:
        return client.get(
            path or f"/v2/{repository}/referrers/{digest}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )


def test_referrers_are_listed_filtered_and_paged(harborlite: Harborlite) -> None:
    project = harborlite.unique("refs")
    harborlite.create_project(project)
    repository = f"{project}/app"
    with Pusher(harborlite) as pusher:
        image = pusher.image(repository, "v1")
        subject = (image.digest, len(image.manifest))
        sbom = push_referrer(
            pusher,
            repository,
            subject,
            SPDX,
            b'{"spdxVersion":"SPDX-2.3"}',
            annotations={"org.opencontainers.image.created": "2026-12-01T00:00:00Z"},
        )
        signature = push_referrer(pusher, repository, subject, COSIGN_BUNDLE, b'{"bundle":1}')
        other = pusher.image(repository, "v2", seed="other")
        push_referrer(pusher, repository, (other.digest, len(other.manifest)), SPDX, b"{}")

    for pushed in (sbom, signature):  # what oras-go reads as "this registry has the API"
        assert pushed.answer.headers["OCI-Subject"] == image.digest

    answer = referrers(harborlite, repository, image.digest)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in answer.headers
    index = answer.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    assert index["manifests"] == [
        {
            "mediaType": OCI_MANIFEST,
            "size": len(sbom.manifest),
            "digest": sbom.digest,
            "artifactType": SPDX,
            "annotations": {"org.opencontainers.image.created": "2026-12-01T00:00:00Z"},
        },
        {
            "mediaType": OCI_MANIFEST,
            "size": len(signature.manifest),
            "digest": signature.digest,
            "artifactType": COSIGN_BUNDLE,
        },
    ]

    filtered = referrers(harborlite, repository, image.digest, {"artifactType": COSIGN_BUNDLE})
    assert filtered.status_code == 200
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in filtered.json()["manifests"]] == [signature.digest]
    none = referrers(harborlite, repository, image.digest, {"artifactType": HARBOR_SBOM})
    assert none.json()["manifests"] == []
    assert none.headers["OCI-Filters-Applied"] == "artifactType"

    first = referrers(harborlite, repository, image.digest, {"n": "1"})
    assert [d["digest"] for d in first.json()["manifests"]] == [sbom.digest]
    link = first.headers["Link"]
    assert link.endswith('>; rel="next"'), link
    following = referrers(harborlite, repository, "", path=link[1 : link.index(">")])
    assert [d["digest"] for d in following.json()["manifests"]] == [signature.digest]
    assert "Link" not in following.headers


def test_a_referrer_pushed_before_its_subject_is_linked_when_it_arrives(
    harborlite: Harborlite,
) -> None:
    project = harborlite.unique("early")
    harborlite.create_project(project)
    repository = f"{project}/app"
    with Pusher(harborlite) as pusher:
        # the subject's manifest is known before it is pushed: its referrer goes first
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
        headers = pusher._headers(repository)
        pusher.blob(repository, config, headers)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digest_of(config),
                    "size": len(config),
                },
                "layers": [],
            }
        ).encode()
        subject = digest_of(manifest)
        early = push_referrer(pusher, repository, (subject, len(manifest)), SPDX, b"early")
        assert early.answer.headers["OCI-Subject"] == subject
        listed = referrers(harborlite, repository, subject).json()["manifests"]
        assert [d["digest"] for d in listed] == [early.digest]
        put_manifest(pusher, repository, "v1", manifest)
    listed = referrers(harborlite, repository, subject).json()["manifests"]
    assert [d["digest"] for d in listed] == [early.digest]
    (accessory,) = harborlite.api(
        "GET",
        f"/projects/{project}/repositories/app/artifacts/v1/accessories",
        auth=harborlite.admin,
    ).json()
    assert accessory["digest"] == early.digest
    assert accessory["subject_artifact_digest"] == subject
    assert accessory["type"] == "subject.accessory"


def test_no_referrers_is_an_empty_index_and_a_bad_digest_400(harborlite: Harborlite) -> None:
    project = harborlite.unique("norefs")
    harborlite.create_project(project)
    repository = f"{project}/app"
    with Pusher(harborlite) as pusher:
        image = pusher.image(repository, "v1")
        plain = pusher.client.put(
            f"/v2/{repository}/manifests/v1",
            content=image.manifest,
            headers={**pusher._headers(repository), "Content-Type": OCI_MANIFEST},
        )
    assert plain.status_code == 201 and "OCI-Subject" not in plain.headers
    for digest in (image.digest, "sha256:" + "0" * 64):
        empty = referrers(harborlite, repository, digest)
        assert empty.status_code == 200, empty.text
        assert empty.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    for bad in ("sha256:abc", "v1", "sha256:" + "A" * 64):
        refused = referrers(harborlite, repository, bad)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["errors"][0]["code"] == "DIGEST_INVALID"


def test_referrers_need_pull_on_the_repository(harborlite: Harborlite) -> None:
    project = harborlite.unique("privrefs")
    harborlite.create_project(project)  # private
    repository = f"{project}/app"
    with Pusher(harborlite) as pusher:
        image = pusher.image(repository, "v1")
        push_referrer(pusher, repository, (image.digest, len(image.manifest)), SPDX, b"x")
    stranger, guest = harborlite.unique("stranger"), harborlite.unique("guest")
    harborlite.create_user(stranger, PASSWORD)
    harborlite.create_user(guest, PASSWORD)
    harborlite.add_member(project, guest, 3)

    refused = referrers(harborlite, repository, image.digest, auth=(stranger, PASSWORD))
    assert refused.status_code == 401, refused.text
    assert refused.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert f'scope="repository:{repository}:pull"' in refused.headers["WWW-Authenticate"]
    with harborlite.client() as client:
        anonymous = client.get(f"/v2/{repository}/referrers/{image.digest}")
    assert anonymous.status_code == 401
    allowed = referrers(harborlite, repository, image.digest, auth=(guest, PASSWORD))
    assert allowed.status_code == 200 and len(allowed.json()["manifests"]) == 1
