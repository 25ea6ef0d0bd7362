"""Verification of cosign's legacy signatures, without a server: keys as cosign.pub holds them,
the simple-signing payload, and the verdict's sentence for each way a signature fails."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harborlite.signatures.keys import InvalidKey, key_set_id, load_key
from harborlite.signatures.legacy import signature_layers
from harborlite.signatures.payload import CorruptPayload, SimpleSigning, parse_payload
from harborlite.signatures.verdict import NOT_SIGNED, Signature, judge
from tests.signatures.cosign_format import (
    cosign_pub,
    ecdsa_key,
    ed25519_key,
    payload,
    sign,
    signature_image,
)

REPO = "library/app"
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
REF = "harbor.example.com:8443/library/app"


def signature(
    key: ec.EllipticCurvePrivateKey | object, ref: str = REF, digest: str = DIGEST
) -> Signature:
    data = payload(ref, digest)
    return Signature(data, sign(key, data))  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [ecdsa_key, ed25519_key], ids=["ecdsa-p256", "ed25519"])
def test_a_valid_signature_passes(make: object) -> None:
    key = make()  # type: ignore[operator]
    trusted = load_key(cosign_pub(key))
    assert judge([signature(key)], (trusted,), REPO, DIGEST).allowed


def test_rsa_keys_verify_pkcs1v15_sha256() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = payload(REF, DIGEST)
    raw = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    trusted = load_key(pem.decode())
    assert trusted.algorithm == "rsa-2048"
    assert judge(
        [Signature(data, base64.b64encode(raw).decode())], (trusted,), REPO, DIGEST
    ).allowed


def test_one_of_several_keys_is_enough() -> None:
    signer, other = ecdsa_key(), ed25519_key()
    keys = (load_key(cosign_pub(other)), load_key(cosign_pub(signer)))
    assert judge([signature(signer)], keys, REPO, DIGEST).allowed


def test_a_wrong_key_is_refused() -> None:
    verdict = judge([signature(ecdsa_key())], (load_key(cosign_pub(ecdsa_key())),), REPO, DIGEST)
    assert not verdict.allowed
    assert "does not verify with any trusted key" in verdict.message


def test_a_forged_payload_is_refused() -> None:
    key = ecdsa_key()
    real = signature(key, digest=OTHER)
    forged = Signature(payload(REF, DIGEST), real.signature)  # the digest changed after signing
    verdict = judge([forged], (load_key(cosign_pub(key)),), REPO, DIGEST)
    assert not verdict.allowed and "does not verify with any trusted key" in verdict.message


@pytest.mark.parametrize(
    ("mangle", "said"),
    [
        (lambda s: Signature(s.payload, "%%%not base64"), "the signature is not base64"),
        (lambda s: Signature(s.payload, ""), "the signature is empty"),
        (lambda s: Signature(s.payload, base64.b64encode(b"junk").decode()), "trusted key"),
    ],
    ids=["not-base64", "empty", "garbage-bytes"],
)
def test_a_corrupt_signature_is_refused(mangle: object, said: str) -> None:
    key = ecdsa_key()
    verdict = judge([mangle(signature(key))], (load_key(cosign_pub(key)),), REPO, DIGEST)  # type: ignore[operator]
    assert not verdict.allowed and said in verdict.message, verdict.message


def test_a_signed_payload_that_is_not_cosigns_is_corrupt() -> None:
    key = ecdsa_key()
    data = b'{"critical": {"type": "something else"}}'
    verdict = judge([Signature(data, sign(key, data))], (load_key(cosign_pub(key)),), REPO, DIGEST)
    assert not verdict.allowed
    assert verdict.message.startswith("The image's cosign signature is corrupt:")


def test_a_signature_of_another_image_is_refused() -> None:
    key = ecdsa_key()
    verdict = judge([signature(key, digest=OTHER)], (load_key(cosign_pub(key)),), REPO, DIGEST)
    assert not verdict.allowed
    assert f"is for another image ({OTHER}), not {DIGEST}" in verdict.message


def test_a_signature_for_another_repository_is_refused() -> None:
    key = ecdsa_key()
    sig = signature(key, ref="harbor.example.com/library/other")
    verdict = judge([sig], (load_key(cosign_pub(key)),), REPO, DIGEST)
    assert not verdict.allowed
    assert "for another repository (harbor.example.com/library/other)" in verdict.message


def test_the_furthest_failure_is_told() -> None:
    key = ecdsa_key()
    trusted = (load_key(cosign_pub(key)),)
    sigs = [signature(ecdsa_key()), signature(key, digest=OTHER), Signature(b"x", "!")]
    assert "another image" in judge(sigs, trusted, REPO, DIGEST).message
    assert judge([*sigs, signature(key)], trusted, REPO, DIGEST).allowed


def test_without_keys_any_signature_is_enough_and_none_is_harbors_refusal() -> None:
    assert judge([Signature(b"x", "y")], (), REPO, DIGEST).allowed
    verdict = judge([], (load_key(cosign_pub(ecdsa_key())),), REPO, DIGEST)
    assert (
        not verdict.allowed
        and verdict.message == NOT_SIGNED == "The image is not signed by cosign."
    )


@pytest.mark.parametrize(
    ("reference", "repository"),
    [
        ("harbor.example.com/library/app", "library/app"),
        ("localhost:5000/library/app", "library/app"),
        ("localhost/library/app", "library/app"),
        ("127.0.0.1:8080/team/sub/app:v1", "team/sub/app"),
        ("library/app", "library/app"),
        ("h.example/library/app@sha256:" + "c" * 64, "library/app"),
    ],
)
def test_the_payloads_repository_is_its_reference_without_host_tag_or_digest(
    reference: str, repository: str
) -> None:
    assert SimpleSigning(DIGEST, reference).repository == repository


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"critical": {}}',
        b'{"critical": {"type": "cosign container image signature"}}',
    ],
)
def test_unreadable_payloads(data: bytes) -> None:
    with pytest.raises(CorruptPayload):
        parse_payload(data)


def test_keys_are_checked_when_given() -> None:
    private = ecdsa_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    p384 = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for bad, said in [
        ("", "empty"),
        (private.decode(), "private key"),
        ("hello", "not a PEM public key"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "readable"),
        (p384.decode(), "P-256"),
    ]:
        with pytest.raises(InvalidKey, match=said):
            load_key(bad)


def test_a_key_has_one_fingerprint_and_key_sets_ignore_order() -> None:
    one, two = ecdsa_key(), ed25519_key()
    pem = cosign_pub(one)
    assert load_key(pem).fingerprint == load_key("\n\n" + pem + "\n").fingerprint
    a, b = load_key(pem), load_key(cosign_pub(two))
    assert key_set_id((a, b)) == key_set_id((b, a)) != key_set_id((a,))


def test_signature_layers_are_read_from_cosigns_manifest() -> None:
    data = payload(REF, DIGEST)
    image = signature_image([(data, "c2ln")])
    [(digest, size, sig)] = signature_layers(image.manifest)
    assert image.blobs[digest] == data and size == len(data) and sig == "c2ln"
    assert signature_layers(b"not json") == []
