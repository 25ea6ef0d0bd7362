"""cosign 3's Sigstore bundles, without a server: the test signer checked against published
Sigstore bundles (so the format is Sigstore's, not merely self-consistent), and the verdict for
each way a bundle signature fails."""

from __future__ import annotations

import base64
import json

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harborlite.signatures.bundle import parse_bundle
from harborlite.signatures.keys import load_key
from harborlite.signatures.statement import IN_TOTO, pae, statement_digests
from harborlite.signatures.verdict import judge
from tests.signatures import cosign_format
from tests.signatures import sigstore_vectors as vectors
from tests.signatures.cosign_format import (
    cosign_pub,
    dsse_bundle,
    ecdsa_key,
    ed25519_key,
    message_bundle,
    statement,
)

REPO = "library/app"
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def _certificate_key(der_b64: str) -> str:
    certificate = x509.load_der_x509_certificate(base64.b64decode(der_b64))
    return (
        certificate.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_a_published_dsse_bundle_verifies_as_harborlite_and_the_test_signer_read_it() -> None:
    key = load_key(_certificate_key(vectors.DSSE_CERTIFICATE))
    body = base64.b64decode(vectors.DSSE_PAYLOAD)
    signature = base64.b64decode(vectors.DSSE_SIGNATURE)
    # the test signer's encoding is DSSE's
    assert cosign_format.pae(IN_TOTO, body) == pae(IN_TOTO, body)
    assert key.verifies(signature, pae(IN_TOTO, body))
    assert not key.verifies(signature, body)  # DSSE never signs the bare payload
    assert statement_digests(body)[1] == [vectors.DSSE_SUBJECT]
    bundle = json.dumps(
        {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "dsseEnvelope": {
                "payload": vectors.DSSE_PAYLOAD,
                "payloadType": IN_TOTO,
                "signatures": [{"sig": vectors.DSSE_SIGNATURE}],
            },
        }
    ).encode()
    # it verifies, and is refused as what it is: an SLSA attestation, not a cosign signature
    verdict = judge(parse_bundle(bundle), (key,), REPO, vectors.DSSE_SUBJECT)
    assert verdict.message == (
        "The image's cosign signature is corrupt: the bundle is an attestation "
        "(https://slsa.dev/provenance/v1), not a cosign signature "
        "(https://sigstore.dev/cosign/sign/v1)."
    )


def test_a_published_message_signature_bundle_verifies() -> None:
    key = load_key(_certificate_key(vectors.MESSAGE_CERTIFICATE))
    digest = base64.b64decode(vectors.MESSAGE_DIGEST)
    bundle = json.dumps(
        {
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": vectors.MESSAGE_DIGEST},
                "signature": vectors.MESSAGE_SIGNATURE,
            }
        }
    ).encode()
    assert judge(parse_bundle(bundle), (key,), REPO, "sha256:" + digest.hex()).allowed
    assert not judge(parse_bundle(bundle), (key,), REPO, DIGEST).allowed


def test_the_test_signers_bundles_verify_for_their_digest_in_any_repository() -> None:
    for make in (ecdsa_key, ed25519_key):
        key = make()
        trusted = (load_key(cosign_pub(key)),)
        found = parse_bundle(dsse_bundle(key, statement("somewhere/else", DIGEST)))
        # a bundle binds the digest only (cosign 3 checks no docker-reference)
        assert judge(found, trusted, REPO, DIGEST).allowed
        assert judge(found, trusted, REPO, OTHER).message == (
            f"The image's cosign signature is for another image ({DIGEST}), not {OTHER}."
        )
    ec = ecdsa_key()
    by_message = parse_bundle(message_bundle(ec, DIGEST))
    assert judge(by_message, (load_key(cosign_pub(ec)),), REPO, DIGEST).allowed
    assert not judge(by_message, (load_key(cosign_pub(ec)),), REPO, OTHER).allowed


def test_wrong_key_forged_and_corrupt_bundles_are_refused() -> None:
    key = ecdsa_key()
    trusted = (load_key(cosign_pub(key)),)
    wrong = parse_bundle(dsse_bundle(ecdsa_key(), statement(REPO, DIGEST)))
    assert "does not verify with any trusted key" in judge(wrong, trusted, REPO, DIGEST).message
    # a signature over another statement, put beside this one: forged
    real = json.loads(dsse_bundle(key, statement(REPO, OTHER)))["dsseEnvelope"]["signatures"][0]
    forged = parse_bundle(dsse_bundle(key, statement(REPO, DIGEST), signature=real["sig"]))
    assert "does not verify with any trusted key" in judge(forged, trusted, REPO, DIGEST).message
    for data, said in (
        (b"not json", "the Sigstore bundle is not JSON"),
        (b"{}", "the Sigstore bundle has no dsseEnvelope or messageSignature"),
        (
            json.dumps({"dsseEnvelope": {"payload": "@@", "payloadType": IN_TOTO}}).encode(),
            "the DSSE envelope's payload is not base64",
        ),
        (
            json.dumps({"dsseEnvelope": {"payload": "e30=", "payloadType": "text/plain"}}).encode(),
            "the DSSE envelope's payloadType is not application/vnd.in-toto+json",
        ),
        (
            json.dumps({"dsseEnvelope": {"payload": "e30=", "payloadType": IN_TOTO}}).encode(),
            "the DSSE envelope has no signature",
        ),
    ):
        verdict = judge(parse_bundle(data), trusted, REPO, DIGEST)
        assert verdict.message == f"The image's cosign signature is corrupt: {said}.", data
    # a verified statement that is not an in-toto statement
    body = b'{"hello":"world"}'
    odd = parse_bundle(dsse_bundle(key, body))
    assert judge(odd, trusted, REPO, DIGEST).message.endswith(
        "the payload is not an in-toto statement."
    )
