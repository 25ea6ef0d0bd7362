"""DSSE and the in-toto statement inside cosign 3's bundles.

DSSE signs its pre-authentication encoding (``DSSEv1 <len> <type> <len> <payload>``,
secure-systems-lab/dsse ``protocol.md``), never the payload alone; cosign's image signature
is an in-toto statement whose ``subject`` names the image's digest and whose
``predicateType`` is :data:`COSIGN_SIGN_PREDICATE`.
"""

from __future__ import annotations

import json

from harborlite.signatures.payload import CorruptPayload

IN_TOTO = "application/vnd.in-toto+json"
IN_TOTO_STATEMENTS = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature is made over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement_digests(payload: bytes) -> tuple[str, list[str]]:
    """The predicate type of an in-toto statement and the sha256 digests of its subjects."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise CorruptPayload("the in-toto statement is not JSON") from None
    if not isinstance(document, dict) or document.get("_type") not in IN_TOTO_STATEMENTS:
        raise CorruptPayload("the payload is not an in-toto statement")
    subjects = document.get("subject")
    digests: list[str] = []
    for subject in subjects if isinstance(subjects, list) else []:
        named = subject.get("digest") if isinstance(subject, dict) else None
        hex_digest = named.get("sha256") if isinstance(named, dict) else None
        if isinstance(hex_digest, str) and hex_digest:
            digests.append(f"sha256:{hex_digest}")
    if not digests:
        raise CorruptPayload("the in-toto statement names no sha256 subject")
    predicate = document.get("predicateType")
    return (predicate if isinstance(predicate, str) else ""), digests
