"""Trusted public keys, as ``cosign generate-key-pair`` writes them (``cosign.pub``, a PEM
``PUBLIC KEY``): ECDSA P-256 (cosign's default), Ed25519, RSA of 2048 bits or more.

A cosign signature is made over the payload bytes: ECDSA with SHA-256 (ASN.1 DER signature),
Ed25519 over the message itself, RSA PKCS#1 v1.5 with SHA-256 (sigstore's ``LoadVerifier``
with ``crypto.SHA256``, as cosign calls it for key pairs).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

MAX_PEM_CHARS = 16_384
MIN_RSA_BITS = 2048

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


class InvalidKey(ValueError):
    """Not a public key harborlite can verify cosign signatures with (the reason says why)."""


@dataclass(frozen=True)
class TrustedKey:
    """A public key: its PEM as stored, its algorithm and its fingerprint (SHA-256 of the
    DER SubjectPublicKeyInfo, hex: the same for any PEM spelling of the key)."""

    pem: str
    algorithm: str  # ecdsa-p256, ed25519, rsa-<bits>
    fingerprint: str
    key: PublicKey

    def verifies(self, signature: bytes, payload: bytes) -> bool:
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
            elif isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, payload)
            else:
                self.key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True

    def verifies_digest(self, signature: bytes, digest: bytes) -> bool:
        """A signature over a SHA-256 digest (a bundle's messageSignature). Ed25519 signs
        messages, never digests: False."""
        if len(digest) != 32:
            return False
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
            elif isinstance(self.key, rsa.RSAPublicKey):
                self.key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
            else:
                return False
        except (InvalidSignature, ValueError):
            return False
        return True


def load_key(pem: str) -> TrustedKey:
    """The key a ``cosign.pub`` holds; :class:`InvalidKey` for anything else."""
    text = pem.strip()
    if not text:
        raise InvalidKey("the key is empty: give the PEM of cosign.pub")
    if len(text) > MAX_PEM_CHARS:
        raise InvalidKey(f"the key is longer than {MAX_PEM_CHARS} characters")
    if "PRIVATE KEY" in text:
        raise InvalidKey("this is a private key: give the public one (cosign.pub), never this")
    if "-----BEGIN PUBLIC KEY-----" not in text:
        raise InvalidKey('not a PEM public key: cosign.pub begins "-----BEGIN PUBLIC KEY-----"')
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, UnsupportedAlgorithm) as error:
        raise InvalidKey(f"the PEM does not hold a readable public key ({error})") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InvalidKey(f"ECDSA keys must be on P-256 (cosign's curve), not {key.curve.name}")
        algorithm = "ecdsa-p256"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        algorithm = "ed25519"
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise InvalidKey(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        algorithm = f"rsa-{key.key_size}"
    else:
        raise InvalidKey("only ECDSA P-256, Ed25519 and RSA keys are supported")
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    canonical = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return TrustedKey(canonical, algorithm, hashlib.sha256(der).hexdigest(), key)


def key_set_id(keys: tuple[TrustedKey, ...]) -> str:
    """One name for a set of keys, whatever their order: what verdicts are kept under."""
    return hashlib.sha256(",".join(sorted(k.fingerprint for k in keys)).encode()).hexdigest()
