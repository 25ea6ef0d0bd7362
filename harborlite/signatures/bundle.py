"""cosign 3's signatures: Sigstore bundles (``application/vnd.dev.sigstore.bundle.v0.3+json``)
pushed as OCI 1.1 referrers of the signed image.

``cosign sign --key cosign.key`` (v3, ``--new-bundle-format``) pushes a manifest with that
``artifactType`` and a ``subject`` naming the image, whose one layer (the same media type) is
the bundle::

    {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
     "verificationMaterial": {"publicKey": {"hint": "..."}, "tlogEntries": []},
     "dsseEnvelope": {"payload": "<b64 in-toto statement>",
                      "payloadType": "application/vnd.in-toto+json",
                      "signatures": [{"sig": "<b64>"}]}}

The key signs DSSE's pre-authentication encoding of the statement
(``DSSEv1 <len> <type> <len> <payload>``); the statement's ``subject`` names the image by
digest and its ``predicateType`` is ``https://sigstore.dev/cosign/sign/v1``. A bundle may carry
a ``messageSignature`` instead (``sign-blob``'s form): a signature over a SHA-256 digest,
which for an image is the manifest's digest.

What ``cosign verify --key`` checks of a bundle, harborlite checks: the signature with the key,
and that the statement (or the message digest) names this digest. A bundle names no
``docker-reference``: unlike the legacy payload, it binds the image's digest, not its
repository.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from harborlite.errors import NotFound
from harborlite.oci.mediatypes import SIGSTORE_BUNDLE_V03
from harborlite.signatures.statement import IN_TOTO
from harborlite.signatures.verdict import DSSE, MESSAGE, Signature, corrupt
from harborlite.upstream import calls
from harborlite.upstream.client import Upstream

MAX_BUNDLE_BYTES = 256 * 1024
MAX_LAYERS = 4
MAX_SIGNATURES = 8


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_bundle(data: bytes) -> list[Signature]:
    """The signatures a bundle carries; one corrupt Signature when it cannot be read."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return [Signature(b"", "", corrupt("the Sigstore bundle is not JSON"))]
    if not isinstance(document, dict):
        return [Signature(b"", "", corrupt("the Sigstore bundle is not a JSON object"))]
    envelope = document.get("dsseEnvelope")
    message = document.get("messageSignature")
    if isinstance(envelope, dict):
        return _dsse(envelope)
    if isinstance(message, dict):
        return [_message(message)]
    return [
        Signature(b"", "", corrupt("the Sigstore bundle has no dsseEnvelope or messageSignature"))
    ]


def _dsse(envelope: dict[str, Any]) -> list[Signature]:
    payload_type = envelope.get("payloadType")
    payload = _b64(envelope.get("payload"))
    if payload is None:
        return [Signature(b"", "", corrupt("the DSSE envelope's payload is not base64"))]
    if payload_type != IN_TOTO:
        why = f"the DSSE envelope's payloadType is not {IN_TOTO}"
        return [Signature(b"", "", corrupt(why))]
    signatures = envelope.get("signatures")
    found = (
        [s.get("sig") for s in signatures if isinstance(s, dict)]
        if isinstance(signatures, list)
        else []
    )
    if not found:
        return [Signature(b"", "", corrupt("the DSSE envelope has no signature"))]
    return [
        Signature(payload, sig if isinstance(sig, str) else "", form=DSSE, payload_type=IN_TOTO)
        for sig in found[:MAX_SIGNATURES]
    ]


def _message(message: dict[str, Any]) -> Signature:
    digest = message.get("messageDigest")
    algorithm = digest.get("algorithm") if isinstance(digest, dict) else None
    value = _b64(digest.get("digest")) if isinstance(digest, dict) else None
    signature = message.get("signature")
    if algorithm != "SHA2_256" or value is None or len(value) != 32:
        return Signature(b"", "", corrupt("the bundle's messageDigest is not a SHA2_256 digest"))
    return Signature(value, signature if isinstance(signature, str) else "", form=MESSAGE)


async def read_bundle_signatures(
    upstream: Upstream, repository: str, manifest_digest: str
) -> list[Signature]:
    """The signatures in the bundle layers of a referrer manifest ([] when it is gone).
    Raises :class:`~harborlite.errors.HarborliteError` when the registry cannot tell."""
    try:
        manifest, _ = await calls.get_manifest(upstream, repository, manifest_digest)
    except NotFound:
        return []
    try:
        document = json.loads(manifest)
    except (ValueError, UnicodeDecodeError):
        return [Signature(b"", "", corrupt(f"the bundle manifest {manifest_digest} is not JSON"))]
    layers = document.get("layers") if isinstance(document, dict) else None
    bundles = [
        layer
        for layer in (layers if isinstance(layers, list) else [])
        if isinstance(layer, dict) and layer.get("mediaType") == SIGSTORE_BUNDLE_V03
    ][:MAX_LAYERS]
    if not bundles:
        return [Signature(b"", "", corrupt(f"{manifest_digest} has no Sigstore bundle layer"))]
    result: list[Signature] = []
    for layer in bundles:
        digest, size = str(layer.get("digest", "")), layer.get("size")
        if not isinstance(size, int) or not 0 <= size <= MAX_BUNDLE_BYTES:
            result.append(Signature(b"", "", corrupt(f"the bundle {digest} is too large")))
            continue
        try:
            data = await calls.get_blob(upstream, repository, digest, MAX_BUNDLE_BYTES)
        except NotFound:
            result.append(Signature(b"", "", corrupt(f"the bundle {digest} cannot be read")))
            continue
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            result.append(Signature(b"", "", corrupt(f"the bundle does not match {digest}")))
            continue
        result.extend(parse_bundle(data))
    return result
