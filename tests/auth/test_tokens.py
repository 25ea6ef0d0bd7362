"""The signing key: libtrust kid, x5c, integer times, string audience; verification refusals."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from harborlite.accounts.passwords import password_stamp
from harborlite.auth.scopes import Access
from harborlite.auth.tokens import (
    TokenError,
    TokenSigner,
    generate_key_pair,
    libtrust_kid,
    sign_refresh_token,
    verify_refresh_token,
)
from tests.support.signing import KEY, new_signer


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> TokenSigner:
    directory = tmp_path_factory.mktemp("keys")
    signer = new_signer(directory, issuer="iss", service="svc")
    assert (directory / KEY).stat().st_mode & 0o777 == 0o600
    return signer


def _segments(token: str) -> tuple[dict[str, object], dict[str, object]]:
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    )


def test_token_shape(signer: TokenSigner) -> None:
    token, expires_in, issued = signer.sign("alice", [Access("repository", "p/r", ("pull",))])
    header, claims = _segments(token)
    assert header["alg"] == "ES256" and header["typ"] == "JWT"
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", str(header["kid"]))
    assert header["kid"] == libtrust_kid(signer.certificate.public_key())  # type: ignore[arg-type]
    assert isinstance(header["x5c"], list) and len(header["x5c"]) == 1
    assert claims["aud"] == "svc" and isinstance(claims["aud"], str)
    for key in ("exp", "nbf", "iat"):
        assert isinstance(claims[key], int)
    assert claims["exp"] == issued + expires_in and expires_in == 1800
    assert claims["access"] == [{"type": "repository", "name": "p/r", "actions": ["pull"]}]
    assert claims["sub"] == "alice" and claims["iss"] == "iss" and claims["jti"]
    verified = signer.verify(token)
    assert verified.subject == "alice"
    assert verified.access == (Access("repository", "p/r", ("pull",)),)


def test_expiry_is_at_least_60_seconds(signer: TokenSigner) -> None:
    _, expires_in, _ = signer.sign("a", [], expiration_seconds=5)
    assert expires_in == 60


def test_refusals(signer: TokenSigner, tmp_path: Path) -> None:
    now = int(time.time())
    base = {"iss": "iss", "aud": "svc", "exp": now + 300, "nbf": now, "iat": now, "access": []}
    key = signer._private_key
    cases = {
        "expired": jwt.encode({**base, "exp": now - 3600}, key, algorithm=signer.algorithm),
        "audience": jwt.encode({**base, "aud": "other"}, key, algorithm=signer.algorithm),
        "issuer": jwt.encode({**base, "iss": "evil"}, key, algorithm=signer.algorithm),
        "none": jwt.encode(base, None, algorithm="none"),
        "hs256": jwt.encode(base, "secret-key-of-at-least-32-bytes!!", algorithm="HS256"),
    }
    generate_key_pair(tmp_path / "k", tmp_path / "c", "other")
    other = TokenSigner.load(
        tmp_path / "k", tmp_path / "c", issuer="iss", service="svc", expiration_seconds=60
    )
    cases["foreign key"] = other.sign("a", [])[0]
    cases["garbage"] = "not.a.token"
    for name, token in cases.items():
        with pytest.raises(TokenError):
            signer.verify(token)
        assert name


def test_refresh_token_round_trip_and_password_stamp(signer: TokenSigner) -> None:
    stamp = password_stamp("$2b$10$hash")
    token = sign_refresh_token(signer, "alice", stamp)
    assert verify_refresh_token(signer, token) == ("alice", stamp)
    access_token, _, _ = signer.sign("alice", [])
    with pytest.raises(TokenError):
        verify_refresh_token(signer, access_token)  # an access token is no refresh token
    refresh = sign_refresh_token(signer, "alice", stamp)
    with pytest.raises(TokenError):
        signer.verify(refresh)  # and a refresh token opens no registry


def test_an_rsa_key_of_an_older_data_folder_still_signs_rs256(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "k").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "c").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    signer = TokenSigner.load(
        tmp_path / "k", tmp_path / "c", issuer="iss", service="svc", expiration_seconds=60
    )
    token, _, _ = signer.sign("a", [])
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert signer.verify(token).subject == "a"
