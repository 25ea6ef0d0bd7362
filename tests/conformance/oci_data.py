"""The OCI distribution conformance suite's test data for its content-discovery (referrers) and
subject workflows, built as the suite builds it.

The suite is Go (opencontainers/distribution-spec, ``conformance/``: ``setup.go`` makes the data,
``03_discovery_test.go`` runs the workflow). It cannot be built here: its modules (ginkgo v2,
gomega, reggie) are neither in Debian nor reachable offline. So this is a port: the same
manifests, field for field (Go's ``json.MarshalIndent(v, "", "\\t")``: declared field order,
``omitempty`` fields left out, nil byte slices as ``null``), the same requests in the same order,
the same expectations.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_JSON_TYPE = "application/vnd.oci.empty.v1+json"
ARTIFACT_TYPE_A = "application/vnd.nhl.peanut.butter.bagel"
ARTIFACT_TYPE_B = "application/vnd.nba.strawberry.jam.croissant"
ARTIFACT_TYPE_INDEX = "application/vnd.food.stand"
ANNOTATION_KEY = "org.opencontainers.conformance.test"
ARTIFACT_TYPE_FILTER = "artifactType"
TEST_TAG = "tagtest0"
WORKFLOWS = 5  # pull, push, content discovery, content management, and one more: numWorkflows

# setup.go's layerBase64String: a gzipped tarball of one test.txt
LAYER = base64.b64decode(
    "H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0"
    "WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qD"
    "jMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA"
)
EMPTY_JSON = b"{}"
REF_BLOB_A = b"NHL Peanut Butter on my NHL bagel"
REF_BLOB_B = b"NBA Strawberry Jam on my NBA croissant"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def go_json(value: Any) -> bytes:
    """``json.MarshalIndent(value, "", "\\t")`` for the dicts below (their order is Go's)."""
    return json.dumps(value, indent="\t", separators=(",", ": ")).encode()


def descriptor(
    media_type: str, data: bytes, *, inline: bool = False, unspecified: bytes | None = None
) -> dict[str, Any]:
    """conformance's ``descriptor``: mediaType (omitempty), digest, size, data, newUnspecifiedField
    (``[]byte``: base64, or null when nil)."""
    found: dict[str, Any] = {"mediaType": media_type} if media_type else {}
    found["digest"] = digest_of(data)
    found["size"] = len(data)
    found["data"] = base64.b64encode(data).decode() if inline else None
    found["newUnspecifiedField"] = base64.b64encode(unspecified).decode() if unspecified else None
    return found


@dataclass(frozen=True)
class Blob:
    content: bytes

    @property
    def digest(self) -> str:
        return digest_of(self.content)


def _config() -> Blob:
    """A unique image config per workflow: a random 16-character author."""
    image = {
        "author": secrets.token_urlsafe(12)[:16],
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    return Blob(go_json(image))


def _manifest(config: Blob) -> Blob:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(
            "application/vnd.oci.image.config.v1+json",
            config.content,
            inline=True,
            unspecified=b"hello world",
        ),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", LAYER)],
    }
    return Blob(go_json(body))


def _subject(manifest: Blob) -> dict[str, Any]:
    return descriptor(OCI_MANIFEST, manifest.content)


def _artifact(
    subject: Blob,
    *,
    artifact_type: str | None,
    config: dict[str, Any],
    layers: list[dict[str, Any]],
    annotation: str | None,
) -> Blob:
    body: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    if artifact_type:
        body["artifactType"] = artifact_type
    body["config"] = config
    body["layers"] = layers
    body["subject"] = _subject(subject)
    if annotation is not None:
        body["annotations"] = {ANNOTATION_KEY: annotation}
    return Blob(go_json(body))


@dataclass(frozen=True)
class DiscoveryData:
    configs: list[Blob]
    manifests: list[Blob]
    refs_a_config: Blob  # config.mediaType = artifactType A, subject manifests[4]
    refs_a_layer: Blob  # artifactType A, empty JSON config, subject manifests[4]
    refs_b_config: Blob
    refs_b_layer: Blob
    refs_c_layer: Blob  # artifactType B, subject manifests[3]: never pushed
    refs_index: Blob  # an index of A config + A layer, subject manifests[4]
    annotations: dict[str, str]  # referrer digest -> its annotation value
    dummy_digest: str


def discovery_data() -> DiscoveryData:
    configs = [_config() for _ in range(WORKFLOWS)]
    manifests = [_manifest(config) for config in configs]
    empty = descriptor(EMPTY_JSON_TYPE, EMPTY_JSON)
    subject = manifests[4]
    a_config = _artifact(
        subject,
        artifact_type=None,
        config=descriptor(ARTIFACT_TYPE_A, REF_BLOB_A),
        layers=[empty],
        annotation="test config a",
    )
    b_config = _artifact(
        subject,
        artifact_type=None,
        config=descriptor(ARTIFACT_TYPE_B, REF_BLOB_B),
        layers=[empty],
        annotation="test config b",
    )
    a_layer = _artifact(
        subject,
        artifact_type=ARTIFACT_TYPE_A,
        config=empty,
        layers=[descriptor(ARTIFACT_TYPE_A, REF_BLOB_A)],
        annotation="test layer a",
    )
    b_layer = _artifact(
        subject,
        artifact_type=ARTIFACT_TYPE_B,
        config=empty,
        layers=[descriptor(ARTIFACT_TYPE_B, REF_BLOB_B)],
        annotation="test layer b",
    )
    c_layer = _artifact(
        manifests[3],
        artifact_type=ARTIFACT_TYPE_B,
        config=empty,
        layers=[descriptor(ARTIFACT_TYPE_B, REF_BLOB_B)],
        annotation=None,
    )
    index = Blob(
        go_json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "artifactType": ARTIFACT_TYPE_INDEX,
                "manifests": [
                    descriptor(OCI_MANIFEST, a_config.content),
                    descriptor(OCI_MANIFEST, a_layer.content),
                ],
                "subject": _subject(subject),
                "annotations": {ANNOTATION_KEY: "test index"},
            }
        )
    )
    annotations = {
        a_config.digest: "test config a",
        b_config.digest: "test config b",
        a_layer.digest: "test layer a",
        b_layer.digest: "test layer b",
        index.digest: "test index",
    }
    return DiscoveryData(
        configs=configs,
        manifests=manifests,
        refs_a_config=a_config,
        refs_a_layer=a_layer,
        refs_b_config=b_config,
        refs_b_layer=b_layer,
        refs_c_layer=c_layer,
        refs_index=index,
        annotations=annotations,
        dummy_digest=digest_of(b"hello world"),
    )
