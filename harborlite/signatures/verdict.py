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

NOT_SIGNED = "The image is not signed by cosign."  # Harbor's words


@dataclass(frozen=True)
class Signature:
    """One simple-signing layer of a signature manifest: its bytes and its annotation."""

    payload: bytes
    signature: str  # base64, the dev.cosignproject.cosign/signature annotation
    problem: str = ""  # the refusal's sentence when it could not be read (a corrupt layer)


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
    if not any(key.verifies(raw, found.payload) for key in keys):
        return _NO_KEY, (
            "The image's cosign signature does not verify with any trusted key of the project "
            "(it was made with another key, or forged)."
        )
    try:
        payload = parse_payload(found.payload)
    except CorruptPayload as error:
        return _CORRUPT, corrupt(str(error))
    if payload.digest != digest:
        return _OTHER_IMAGE, (
            f"The image's cosign signature is for another image ({payload.digest}), not {digest}."
        )
    if payload.repository != repository:
        return _OTHER_REPOSITORY, (
            f"The image's cosign signature is for another repository ({payload.reference}), "
            f"not {repository}."
        )
    return -1, ""
