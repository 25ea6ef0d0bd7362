"""Pushing artifacts that refer to others (OCI 1.1 ``subject``, cosign's legacy ``.sig``) with
httpx, as oras, cosign and notation lay them out."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import httpx

from tests.api.pushing import OCI_MANIFEST, Pusher, digest_of

EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
COSIGN_LAYER = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
NOTATION = "application/vnd.cncf.notary.signature"
HARBOR_SBOM = "application/vnd.goharbor.harbor.sbom.v1"
SPDX = "application/spdx+json"


@dataclass(frozen=True)
class Referrer:
    digest: str
    manifest: bytes
    answer: httpx.Response  # the manifest PUT's answer


def referrer_manifest(
    pusher: Pusher,
    repository: str,
    subject: tuple[str, int] | None,
    artifact_type: str,
    payload: bytes,
    *,
    annotations: dict[str, str] | None = None,
    layer_type: str = "application/octet-stream",
) -> bytes:
    """An OCI 1.1 artifact manifest (empty config, one layer), its blobs pushed."""
    headers = pusher._headers(repository)
    pusher.blob(repository, b"{}", headers)
    pusher.blob(repository, payload, headers)
    body: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_CONFIG, "digest": digest_of(b"{}"), "size": 2},
        "layers": [{"mediaType": layer_type, "digest": digest_of(payload), "size": len(payload)}],
    }
    if subject is not None:
        body["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject[0], "size": subject[1]}
    if annotations:
        body["annotations"] = annotations
    return json.dumps(body).encode()


def put_manifest(pusher: Pusher, repository: str, reference: str, body: bytes) -> httpx.Response:
    response = pusher.client.put(
        f"/v2/{repository}/manifests/{reference}",
        content=body,
        headers={**pusher._headers(repository), "Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    return response


def push_referrer(
    pusher: Pusher,
    repository: str,
    subject: tuple[str, int],
    artifact_type: str,
    payload: bytes,
    *,
    annotations: dict[str, str] | None = None,
) -> Referrer:
    body = referrer_manifest(
        pusher, repository, subject, artifact_type, payload, annotations=annotations
    )
    digest = digest_of(body)
    return Referrer(digest, body, put_manifest(pusher, repository, digest, body))


def push_legacy_cosign_signature(pusher: Pusher, repository: str, signed: str) -> Referrer:
    """cosign's legacy layout: a ``sha256-<hex>.sig`` tag whose layer is a simple-signing
    payload (the signature itself is S2's business: a placeholder here)."""
    payload = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": f"example.test/{repository}"},
                "image": {"docker-manifest-digest": signed},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    ).encode()
    headers = pusher._headers(repository)
    config = json.dumps({"architecture": "", "os": "", "rootfs": {"type": "layers"}}).encode()
    pusher.blob(repository, config, headers)
    pusher.blob(repository, payload, headers)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": COSIGN_LAYER,
                    "digest": digest_of(payload),
                    "size": len(payload),
                    "annotations": {
                        "dev.cosignproject.cosign/signature": base64.b64encode(b"sig").decode()
                    },
                }
            ],
        }
    ).encode()
    tag = signed.replace(":", "-") + ".sig"
    return Referrer(digest_of(body), body, put_manifest(pusher, repository, tag, body))
