"""cosign's legacy signature layout, made byte for byte by the tests (cosign is not installed).

``cosign sign --key cosign.key`` (``--new-bundle-format=false``) writes, under the tag
``sha256-<hex>.sig`` of the signed image's repository, an OCI manifest whose layers are
simple-signing payloads (``application/vnd.dev.cosign.simplesigning.v1+json``), each with its
base64 signature in the ``dev.cosignproject.cosign/signature`` annotation; the payload is
``{"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":D},
"type":"cosign container image signature"},"optional":null}`` (sigstore/sigstore
``pkg/signature/payload``, compact JSON as Go's encoder writes it).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
ANNOTATION = "dev.cosignproject.cosign/signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def ecdsa_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def cosign_pub(key: PrivateKey) -> str:
    """What ``cosign generate-key-pair`` writes to cosign.pub."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def payload(reference: str, digest: str) -> bytes:
    document = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def sign(key: PrivateKey, data: bytes) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        raw = key.sign(data, ec.ECDSA(hashes.SHA256()))
    else:
        raw = key.sign(data)
    return base64.b64encode(raw).decode()


@dataclass
class SignatureImage:
    """A ``.sig`` manifest and the blobs it names."""

    manifest: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)


def signature_image(layers: list[tuple[bytes, str]]) -> SignatureImage:
    """The manifest of ``(payload, base64 signature)`` layers, as cosign writes it."""
    blobs: dict[str, bytes] = {}
    descriptors = []
    for data, signature in layers:
        digest = sha256(data)
        blobs[digest] = data
        descriptors.append(
            {
                "mediaType": SIMPLE_SIGNING,
                "size": len(data),
                "digest": digest,
                "annotations": {ANNOTATION: signature},
            }
        )
    config = json.dumps(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()
    blobs[sha256(config)] = config
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": sha256(config)},
        "layers": descriptors,
    }
    return SignatureImage(json.dumps(manifest, separators=(",", ":")).encode(), blobs)


def signed(key: PrivateKey, reference: str, digest: str) -> SignatureImage:
    data = payload(reference, digest)
    return signature_image([(data, sign(key, data))])


def signature_tag(digest: str) -> str:
    return digest.replace(":", "-", 1) + ".sig"
