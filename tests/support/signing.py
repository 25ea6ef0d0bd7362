"""A token signer with a new key pair in a folder (for tests of one module)."""

from __future__ import annotations

from pathlib import Path

from harborlite.auth.tokens import TokenSigner, generate_key_pair

KEY, CERTIFICATE = "token.key", "token.crt"


def new_signer(
    directory: Path,
    *,
    issuer: str = "harborlite-token-issuer",
    service: str = "harbor-registry",
    expiration_seconds: int = 1800,
) -> TokenSigner:
    """A signer of a key pair generated into ``directory`` (``KEY``, ``CERTIFICATE``)."""
    generate_key_pair(directory / KEY, directory / CERTIFICATE, "harborlite-token-signer")
    return TokenSigner.load(
        directory / KEY,
        directory / CERTIFICATE,
        issuer=issuer,
        service=service,
        expiration_seconds=expiration_seconds,
    )
