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
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.signatures import secretbox

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


# --- cosign 3: a Sigstore bundle pushed as an OCI 1.1 referrer of the image ---------------
#
# ``cosign sign --key cosign.key`` (v3, ``--new-bundle-format``, no transparency log) pushes
# an OCI manifest with ``artifactType`` SIGSTORE_BUNDLE, an empty config, the bundle as its one
# layer and ``subject`` the image; the bundle's DSSE envelope signs DSSE's pre-authentication
# encoding of an in-toto statement naming the image's digest with cosign's sign predicate
# (sigstore/cosign ``cmd/cosign/cli/sign``, sigstore/protobuf-specs ``sigstore_bundle.proto``,
# JSON as protojson writes it: camelCase fields).

SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding (secure-systems-lab/dsse protocol.md)."""
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(body), body)


def statement(repository: str, digest: str, predicate_type: str = SIGN_PREDICATE) -> bytes:
    document = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": repository, "digest": {"sha256": digest.split(":", 1)[1]}}],
        "predicateType": predicate_type,
        "predicate": {},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _hint(key: PrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def dsse_bundle(key: PrivateKey, body: bytes, signature: str | None = None) -> bytes:
    """A bundle whose DSSE envelope carries ``body`` (an in-toto statement), signed by ``key``
    unless ``signature`` (base64) is given."""
    sig = signature if signature is not None else sign(key, pae(IN_TOTO, body))
    bundle = {
        "mediaType": SIGSTORE_BUNDLE,
        "verificationMaterial": {"publicKey": {"hint": _hint(key)}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(body).decode(),
            "payloadType": IN_TOTO,
            "signatures": [{"sig": sig}],
        },
    }
    return json.dumps(bundle, separators=(",", ":")).encode()


def message_bundle(key: ec.EllipticCurvePrivateKey, digest: str) -> bytes:
    """A bundle with a ``messageSignature`` over the SHA-256 digest ``digest`` (sign-blob's
    form: ECDSA over the prehashed digest)."""
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    raw = bytes.fromhex(digest.split(":", 1)[1])
    sig = key.sign(raw, ec.ECDSA(Prehashed(hashes.SHA256())))
    bundle = {
        "mediaType": SIGSTORE_BUNDLE,
        "verificationMaterial": {"publicKey": {"hint": _hint(key)}, "tlogEntries": []},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": base64.b64encode(raw).decode()},
            "signature": base64.b64encode(sig).decode(),
        },
    }
    return json.dumps(bundle, separators=(",", ":")).encode()


def bundle_referrer(
    bundle: bytes, subject_digest: str, subject_size: int, subject_type: str = OCI_MANIFEST
) -> SignatureImage:
    """The referrer manifest cosign 3 pushes for ``bundle``, and its blobs."""
    empty = b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGSTORE_BUNDLE,
        "config": {"mediaType": OCI_EMPTY, "size": len(empty), "digest": sha256(empty)},
        "layers": [{"mediaType": SIGSTORE_BUNDLE, "size": len(bundle), "digest": sha256(bundle)}],
        "subject": {"mediaType": subject_type, "size": subject_size, "digest": subject_digest},
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": SIGN_PREDICATE,
            "org.opencontainers.image.created": "2026-01-01T00:00:00Z",
        },
    }
    encoded = json.dumps(manifest, separators=(",", ":")).encode()
    return SignatureImage(encoded, {sha256(empty): empty, sha256(bundle): bundle})


# --- cosign.key: the private key as ``cosign generate-key-pair`` writes it -----------------
#
# sigstore/cosign ``pkg/cosign/keys.go``: the key's PKCS#8 DER, encrypted with
# go-securesystemslib ``encrypted.Encrypt`` (scrypt N=32768 r=8 p=1 over the password with a
# 32-byte salt, then NaCl secretbox with a 24-byte nonce), the JSON of that in a PEM block
# ``ENCRYPTED COSIGN PRIVATE KEY`` (``ENCRYPTED SIGSTORE PRIVATE KEY`` since cosign 2.x; both
# are read). cosign.pub is the public key's PEM (:func:`cosign_pub`): what harborlite is given.

COSIGN_KEY_PEM = "ENCRYPTED COSIGN PRIVATE KEY"
SIGSTORE_KEY_PEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
_SCRYPT_MAXMEM = 256 * 1024 * 1024


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32)


def _pem(label: str, body: bytes) -> str:
    text = base64.b64encode(body).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def encrypted_private_key(
    key: PrivateKey, password: bytes, *, label: str = COSIGN_KEY_PEM, salt: bytes = b"",
    nonce: bytes = b"",
) -> str:  # fmt: skip
    """cosign.key for ``key``, encrypted under ``password`` as cosign encrypts it."""
    salt = salt or os.urandom(32)
    nonce = nonce or os.urandom(secretbox.NONCE_SIZE)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    box = secretbox.seal(der, nonce, _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
    document = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(box).decode(),
    }
    return _pem(label, json.dumps(document, separators=(",", ":")).encode())


def decrypt_private_key(pem: str, password: bytes) -> PrivateKey:
    """The key in a cosign.key (either label); ValueError for a wrong password or another
    format (:class:`tests.signatures.secretbox.Unopened` is one)."""
    lines = [line.strip() for line in pem.strip().splitlines()]
    labels = {f"-----BEGIN {label}-----" for label in (COSIGN_KEY_PEM, SIGSTORE_KEY_PEM)}
    if len(lines) < 3 or lines[0] not in labels or not lines[-1].startswith("-----END "):
        raise ValueError("not an encrypted cosign private key PEM")
    document = json.loads(base64.b64decode("".join(lines[1:-1])))
    kdf, cipher = document["kdf"], document["cipher"]
    if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox":
        raise ValueError(f"unknown key encryption {kdf['name']} / {cipher['name']}")
    params = kdf["params"]
    secret = _scrypt(password, base64.b64decode(kdf["salt"]), params["N"], params["r"], params["p"])
    der = secretbox.open_box(
        base64.b64decode(document["ciphertext"]), base64.b64decode(cipher["nonce"]), secret
    )
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"cosign.key holds a {type(key).__name__}, not ECDSA or Ed25519")
    return key
