"""cosign's private key file, written and read as cosign does, and checked against keys from
cosign's own test data: the ``ENCRYPTED COSIGN PRIVATE KEY`` PEM (scrypt and NaCl secretbox
over PKCS#8) the tests' keys are written as, whose ``cosign.pub`` is what harborlite is given.

The published keys are embedded from sigstore/cosign ``pkg/cosign/keys_test.go``
(``pemcosignkey``, ``pemsigstorekey``; password ``hello`` there, as ``TestReadingPrivatePemTypes``
reads them)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from harborlite.signatures.keys import load_key
from harborlite.signatures.verdict import Signature, judge
from tests.signatures import secretbox
from tests.signatures.cosign_format import (
    SIGSTORE_KEY_PEM,
    cosign_pub,
    decrypt_private_key,
    ecdsa_key,
    ed25519_key,
    encrypted_private_key,
    payload,
    sign,
)

# sigstore/cosign pkg/cosign/keys_test.go, "COSIGN labeled RSA key" (it holds a P-256 key)
COSIGN_PEM = """-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiJ4WWdoc09JTUxUWGNOT0RsclNIOUNKc1FlOVFnZmN1
cmUrMXlLdHh1TlkwPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiI0cS9PSlVmaXJkSUkrUjZ0ajZBMmcyQ0JqL25xdFNicCJ9LCJj
aXBoZXJ0ZXh0IjoiKzB4Q3NzcFN0WStBczdKanJpOWtsbHBWd2JhcUI4ZWJNdWto
eS9aVE1MSXRsL3B1YS9jWVJvbytLRGxMWWdmOW1kSjk4K1FnQW9oTktoYnJPMTcw
MHdBY1JTMjFDOE4zQUNJRUVZaWpOMllBNnMraGJSbkhjUnd4eGhDMDFtb2FvL0dO
Y1pmbEJheXZMV3pXblo4d2NDZ2ZpT1o1VXlRTEFJMHh0dnR6dEh3cTdDV1Vhd3V4
RlhlNDZzck9TUE9SNHN6bytabWErUGovSFE9PSJ9
-----END ENCRYPTED COSIGN PRIVATE KEY-----
"""

# sigstore/cosign pkg/cosign/keys_test.go, "SIGSTORE labeled key"
SIGSTORE_PEM = """-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiI3T3VGd2VsbWZZNXVId2NoaURSc210anNwZ2ZlZjFG
Mk5lOGFDTjVLYVpZPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJQNHk4OGhCb3ZTa09MbXN0bFVBaGJwdDJ0K2xTNUxQSCJ9LCJj
aXBoZXJ0ZXh0IjoiMnB1QzdyZldJOWh3bnJlQ2s4aUZDRlVwQlRrSzRJNlIvbFBF
cnBDekpXUGpJWXl4eGVIL1A2VW52cFJHdVhla1NNb3JMdGhLamdoQ1JlNy82NDVH
QWtoVm1LRC92eEF0S2EvbE1abENSQ3FlekJGUFd1dzNpeFRtZ2xhb2J1ZFVSbUVs
bmNGOGlZbzBTMVl6Y1ZOMVFwY2J2c0dNcUlYRzVlbmdteGp5dCtBcXlyZTF0Q0Y0
V01tU1BlaEljNlBqd2h1Q2xHaVpJUWRvTGc9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
"""
PASSWORD = b"hello"
DIGEST = "sha256:" + "ab" * 32


def test_poly1305_matches_rfc_8439() -> None:
    key = bytes.fromhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
    tag = secretbox.poly1305(key, b"Cryptographic Forum Research Group")
    assert tag.hex() == "a8061dc1305136c6c22b8baf0c0127a9"


@pytest.mark.parametrize("pem", [COSIGN_PEM, SIGSTORE_PEM], ids=["cosign", "sigstore"])
def test_cosigns_published_keys_decrypt(pem: str) -> None:
    key = decrypt_private_key(pem, PASSWORD)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    # its cosign.pub is a key harborlite trusts, and verifies what the key signs
    trusted = load_key(cosign_pub(key))
    data = payload("registry.example/app", DIGEST)
    assert trusted.verifies(base64.b64decode(sign(key, data)), data)
    with pytest.raises(secretbox.Unopened):
        decrypt_private_key(pem, b"wrong")


@pytest.mark.parametrize("make", [ecdsa_key, ed25519_key], ids=["ecdsa-p256", "ed25519"])
def test_the_tests_keys_round_trip_through_cosign_key(make: object) -> None:
    assert callable(make)
    key = make()
    assert isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    pem = encrypted_private_key(key, b"s3cret")
    assert pem.startswith("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in pem.splitlines()[1:-1])
    again = decrypt_private_key(pem, b"s3cret")
    assert cosign_pub(again) == cosign_pub(key)
    assert decrypt_private_key(encrypted_private_key(key, b"x", label=SIGSTORE_KEY_PEM), b"x")

    # the operator gives harborlite cosign.pub; what cosign.key signs passes the pull check
    data = payload("registry.example/team/app", DIGEST)
    found = [Signature(data, sign(again, data))]
    trusted = load_key(cosign_pub(key))
    assert judge(found, (trusted,), "team/app", DIGEST).allowed
    assert not judge(found, (load_key(cosign_pub(ecdsa_key())),), "team/app", DIGEST).allowed


def test_an_altered_key_file_does_not_open() -> None:
    pem = encrypted_private_key(ecdsa_key(), b"pw")
    lines = pem.splitlines()
    body = bytearray(base64.b64decode("".join(lines[1:-1])))
    flip = body.index(b'"ciphertext":"') + len(b'"ciphertext":"') + 4
    body[flip] = ord("A") if body[flip] != ord("A") else ord("B")
    altered = "\n".join([lines[0], base64.b64encode(bytes(body)).decode(), lines[-1]])
    with pytest.raises(secretbox.Unopened):
        decrypt_private_key(altered, b"pw")
