"""Cosign's legacy signatures read from the registry: the manifest a ``sha256-<hex>.sig`` tag
names, whose layers are simple-signing payloads (media type
``application/vnd.dev.cosign.simplesigning.v1+json``) each with its base64 signature in the
``dev.cosignproject.cosign/signature`` annotation (sigstore/cosign ``pkg/oci/static``).

A layer that cannot be read whole (no annotation, a payload over the size limit, bytes that do
not match the layer's digest) is kept as a corrupt signature, so the refusal can say so.
"""

from __future__ import annotations

import hashlib
import json

from harborlite.errors import NotFound
from harborlite.signatures.payload import MAX_PAYLOAD_BYTES
from harborlite.signatures.verdict import Signature, corrupt
from harborlite.upstream import calls
from harborlite.upstream.client import Upstream

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
MAX_LAYERS = 16  # signatures read per signature manifest


def signature_tag(digest: str) -> str:
    """The tag cosign's legacy layout signs ``digest`` under: ``sha256-<hex>.sig``."""
    return digest.replace(":", "-", 1) + ".sig"


def signature_layers(manifest: bytes) -> list[tuple[str, int, str]]:
    """(digest, size, base64 signature) of each simple-signing layer; [] when none."""
    try:
        document = json.loads(manifest)
    except (ValueError, UnicodeDecodeError):
        return []
    layers = document.get("layers") if isinstance(document, dict) else None
    found: list[tuple[str, int, str]] = []
    for layer in layers if isinstance(layers, list) else []:
        if not isinstance(layer, dict) or layer.get("mediaType") != SIMPLE_SIGNING:
            continue
        annotations = layer.get("annotations")
        signature = annotations.get(SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else ""
        size = layer.get("size")
        found.append(
            (
                str(layer.get("digest", "")),
                size if isinstance(size, int) else -1,
                signature if isinstance(signature, str) else "",
            )
        )
    return found[:MAX_LAYERS]


async def read_signatures(
    upstream: Upstream, repository: str, manifest_digest: str
) -> list[Signature]:
    """The signatures a legacy signature manifest of ``repository`` carries ([] when it is
    gone). Raises :class:`~harborlite.errors.HarborliteError` when the registry cannot tell."""
    try:
        manifest, _ = await calls.get_manifest(upstream, repository, manifest_digest)
    except NotFound:
        return []
    result: list[Signature] = []
    for digest, size, signature in signature_layers(manifest):
        if not signature:
            result.append(
                Signature(b"", "", corrupt(f"the layer {digest} has no {SIGNATURE_ANNOTATION}"))
            )
            continue
        if not 0 <= size <= MAX_PAYLOAD_BYTES:
            result.append(Signature(b"", signature, corrupt(f"the payload {digest} is too large")))
            continue
        try:
            payload = await calls.get_blob(upstream, repository, digest, MAX_PAYLOAD_BYTES)
        except NotFound:
            result.append(
                Signature(b"", signature, corrupt(f"the payload {digest} cannot be read"))
            )
            continue
        if "sha256:" + hashlib.sha256(payload).hexdigest() != digest:
            result.append(
                Signature(b"", signature, corrupt(f"the payload does not match {digest}"))
            )
            continue
        result.append(Signature(payload, signature))
    return result
