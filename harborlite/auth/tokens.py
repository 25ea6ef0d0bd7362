"""The token signing key: generated on first start, trusted by the registry.

The distribution 2.8 registry finds trusted keys by ``kid`` in libtrust format, and also accepts
an ``x5c`` chain ending in its ``rootcertbundle``; every token carries both.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from .scopes import Access

LEEWAY_SECONDS = 60  # how long past ``exp`` a token is still accepted (the registry allows 60 s)


def libtrust_kid(public_key: PublicKeyTypes) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32, 12 groups of 4."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(der).digest()[:30]
    text = base64.b32encode(digest).decode("ascii").rstrip("=")
    return ":".join(text[i : i + 4] for i in range(0, 48, 4))


def generate_key_pair(key_path: Path, cert_path: Path, common_name: str) -> None:
    """Write a new ECDSA P-256 key (mode 0600) and a self-signed certificate for it.

    ES256 signs in about 50 µs where RS256 with a 4096-bit key takes milliseconds, which
    would cap token issuance far below what one core can do; registry 2.8 accepts both.
    Keys made before (RSA) keep working: the algorithm follows the key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


SigningKey = RSAPrivateKey | EllipticCurvePrivateKey


class TokenError(ValueError):
    """A bearer token was refused; the message says why."""


@dataclass(frozen=True)
class Claims:
    subject: str
    access: tuple[Access, ...]
    expires_at: int
    token_id: str
    issued_ms: int = 0  # when it was signed, in milliseconds (revocations compare it)
    replica: str = ""  # the harborlite process that signed it


class TokenSigner:
    """Signs registry tokens and checks the ones clients bring back."""

    def __init__(
        self,
        private_key: SigningKey,
        certificate: x509.Certificate,
        *,
        issuer: str,
        service: str,
        expiration_seconds: int,
    ) -> None:
        self._private_key = private_key
        self._public_key = private_key.public_key()
        self.algorithm = "ES256" if isinstance(private_key, EllipticCurvePrivateKey) else "RS256"
        self.certificate = certificate
        self.issuer = issuer
        self.service = service
        self.expiration_seconds = max(60, expiration_seconds)
        self.kid = libtrust_kid(self._public_key)
        der = certificate.public_bytes(serialization.Encoding.DER)
        self._headers: dict[str, Any] = {
            "typ": "JWT",
            "kid": self.kid,
            "x5c": [base64.b64encode(der).decode("ascii")],
        }

    @classmethod
    def load(
        cls, key_path: Path, cert_path: Path, *, issuer: str, service: str, expiration_seconds: int
    ) -> TokenSigner:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, RSAPrivateKey | EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} holds neither an RSA nor an ECDSA private key")
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        return cls(key, cert, issuer=issuer, service=service, expiration_seconds=expiration_seconds)

    def sign(
        self,
        subject: str,
        access: list[Access],
        *,
        expiration_seconds: int | None = None,
        replica: str = "",
        not_after: int | None = None,
    ) -> tuple[str, int, int]:
        """Return (token, expires_in, issued_at). Times are integers; ``aud`` a string. The
        private claims ``iat_ms`` and ``rep`` (who signed it) are for revocation; the registry
        ignores them. ``not_after`` (Unix seconds) shortens the token to end by then."""
        now_ms = int(time.time() * 1000)
        now = now_ms // 1000
        expires_in = max(60, expiration_seconds or self.expiration_seconds)
        if not_after is not None:
            expires_in = max(1, min(expires_in, not_after - now))
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + expires_in,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": [entry.claim() for entry in access],
            "iat_ms": now_ms,
            "rep": replica,
        }
        token = jwt.encode(
            claims, self._private_key, algorithm=self.algorithm, headers=self._headers
        )
        return token, expires_in, now

    def verify(self, token: str) -> Claims:
        """Check signature, algorithm, issuer, audience and times; raise :class:`TokenError`."""
        try:
            payload = jwt.decode(
                token,
                self._public_key,
                algorithms=[self.algorithm],
                audience=self.service,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenError("token is for another service") from None
        except jwt.InvalidIssuerError:
            raise TokenError("token has an unknown issuer") from None
        except jwt.PyJWTError as error:
            raise TokenError(f"invalid token: {error}") from None
        access: list[Access] = []
        for entry in payload.get("access") or []:
            if not isinstance(entry, dict):
                raise TokenError("invalid token: malformed access claim")
            kind, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
            if not isinstance(kind, str) or not isinstance(name, str):
                raise TokenError("invalid token: malformed access claim")
            if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
                raise TokenError("invalid token: malformed access claim")
            access.append(Access(kind, name, tuple(actions)))
        issued = payload.get("iat_ms")
        if not isinstance(issued, int):
            iat = payload.get("iat")
            issued = int(iat) * 1000 if isinstance(iat, int | float) else 0
        return Claims(
            subject=str(payload.get("sub") or ""),
            access=tuple(access),
            expires_at=int(payload["exp"]),
            token_id=str(payload.get("jti") or ""),
            issued_ms=issued,
            replica=str(payload.get("rep") or ""),
        )


REFRESH_AUDIENCE_SUFFIX = "#refresh"


def sign_refresh_token(signer: TokenSigner, username: str, stamp: str, days: int = 30) -> str:
    now = int(time.time())
    claims = {
        "iss": signer.issuer,
        "sub": username,
        "aud": signer.service + REFRESH_AUDIENCE_SUFFIX,
        "exp": now + days * 86400,
        "iat": now,
        "jti": secrets.token_hex(16),
        "pwd": stamp,
    }
    return jwt.encode(
        claims, signer._private_key, algorithm=signer.algorithm, headers={"typ": "JWT"}
    )


def verify_refresh_token(signer: TokenSigner, token: str) -> tuple[str, str]:
    """Return (username, password stamp) of a refresh token we issued."""
    try:
        payload = jwt.decode(
            token,
            signer._public_key,
            algorithms=[signer.algorithm],
            audience=signer.service + REFRESH_AUDIENCE_SUFFIX,
            issuer=signer.issuer,
            options={"require": ["exp", "sub", "pwd"]},
        )
    except jwt.PyJWTError as error:
        raise TokenError(f"invalid refresh token: {error}") from None
    return str(payload["sub"]), str(payload["pwd"])
