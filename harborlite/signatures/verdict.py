"""Whether an image's cosign signatures let it be pulled, and the sentence that says why not.

Without trusted keys (Harbor's ``enable_content_trust_cosign`` alone) a signature must exist,
as Harbor checks. With keys, one signature must verify against one of them, over a payload
that names this digest and this repository. Otherwise the refusal says which check failed,
for the signature that came furthest: a corrupt one (no readable signature or payload), one
no trusted key made (signed with another key, or forged: the two cannot be told apart), one
made for another image, or for another repository.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from harborlite.signatures.keys import TrustedKey
from harborlite.signatures.payload import CorruptPayload, parse_payload
from harborlite.signatures.statement import COSIGN_SIGN_PREDICATE, pae, statement_digests

NOT_SIGNED = "The image is not signed by cosign."  # Harbor's words

# what a signature's key signed: a simple-signing payload (the legacy layout and cosign 2's
# referrers), a DSSE envelope over an in-toto statement, or a message digest (cosign 3 bundles)
SIMPLE_SIGNING, DSSE, MESSAGE = "simple-signing", "dsse", "message"


@dataclass(frozen=True)
class Signature:
    """One signature found for an image: what was signed and the base64 signature."""

    payload: bytes  # the simple-signing payload, the DSSE payload, or the SHA-256 digest
    signature: str  # base64 (the dev.cosignproject.cosign/signature annotation, DSSE's sig)
    problem: str = ""  # the refusal's sentence when it could not be read (a corrupt layer)
    form: str = SIMPLE_SIGNING
    payload_type: str = ""  # DSSE's payloadType


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    message: str = ""


ALLOWED = Verdict(True)


def corrupt(why: str) -> str:
    return f"The image's cosign signature is corrupt: {why}."


# how far a signature came: the refusal names the furthest
_CORRUPT, _NO_KEY, _OTHER_IMAGE, _OTHER_REPOSITORY = range(4)


def judge(
    signatures: list[Signature], keys: tuple[TrustedKey, ...], repository: str, digest: str
) -> Verdict:
    """The verdict on a pull of ``repository@digest`` with these signatures found for it."""
    if not signatures:
        return Verdict(False, NOT_SIGNED)
    if not keys:
        return ALLOWED
    best = (-1, "")
    for found in signatures:
        step, why = _check(found, keys, repository, digest)
        if step < 0:
            return ALLOWED
        if step > best[0]:
            best = (step, why)
    return Verdict(False, best[1])


def _check(
    found: Signature, keys: tuple[TrustedKey, ...], repository: str, digest: str
) -> tuple[int, str]:
    """(-1, "") for a signature that passes, else how far it came and why it failed."""
    if found.problem:
        return _CORRUPT, found.problem
    try:
        raw = base64.b64decode(found.signature, validate=True)
    except (binascii.Error, ValueError):
        return _CORRUPT, corrupt("the signature is not base64")
    if not raw:
        return _CORRUPT, corrupt("the signature is empty")
    if not any(_verifies(key, raw, found) for key in keys):
        return _NO_KEY, (
            "The image's cosign signature does not verify with any trusted key of the project "
            "(it was made with another key, or forged)."
        )
    if found.form == DSSE:
        return _check_statement(found.payload, digest)
    if found.form == MESSAGE:
        signed = "sha256:" + found.payload.hex()
        if signed != digest:
            return _OTHER_IMAGE, _other_image(signed, digest)
        return -1, ""
    try:
        payload = parse_payload(found.payload)
    except CorruptPayload as error:
        return _CORRUPT, corrupt(str(error))
    if payload.digest != digest:
        return _OTHER_IMAGE, _other_image(payload.digest, digest)
    if payload.repository != repository:
        return _OTHER_REPOSITORY, (
            f"The image's cosign signature is for another repository ({payload.reference}), "
            f"not {repository}."
        )
    return -1, ""


def _verifies(key: TrustedKey, raw: bytes, found: Signature) -> bool:
    if found.form == DSSE:
        return key.verifies(raw, pae(found.payload_type, found.payload))
    if found.form == MESSAGE:
        return key.verifies_digest(raw, found.payload)
    return key.verifies(raw, found.payload)


def _other_image(signed: str, digest: str) -> str:
    return f"The image's cosign signature is for another image ({signed}), not {digest}."


def _check_statement(payload: bytes, digest: str) -> tuple[int, str]:
    """A verified DSSE statement: cosign's image signature, naming this digest (a bundle
    names no repository: cosign 3 binds the digest only)."""
    try:
        predicate, digests = statement_digests(payload)
    except CorruptPayload as error:
        return _CORRUPT, corrupt(str(error))
    if predicate != COSIGN_SIGN_PREDICATE:
        return _CORRUPT, corrupt(
            f"the bundle is an attestation ({predicate or 'no predicate type'}), "
            f"not a cosign signature ({COSIGN_SIGN_PREDICATE})"
        )
    if digest not in digests:
        return _OTHER_IMAGE, _other_image(", ".join(digests), digest)
    return -1, ""
