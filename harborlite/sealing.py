"""Sealing the credentials harborlite keeps for others (registry endpoints, scanner adapters)
with one key of its data folder.

:class:`SecretBox` wraps a Fernet key (AES-128-CBC with HMAC-SHA256) kept in
``<data_dir>/secrets.key``, created with mode 0600 on first use. Every replica of a deployment
shares the data folder (or the key file), so they all open what any of them sealed. An empty
secret stays empty (nothing to hide, and "no credential" stays recognisable).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "secrets.key"


class SealedSecretError(ValueError):
    """A sealed value this key cannot open (another data folder's key, or damaged)."""


class SecretBox:
    """Seals and opens short secrets (passwords, tokens) with one symmetric key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def __repr__(self) -> str:
        return "SecretBox(***)"

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SecretBox:
        """The box of this data folder; its key file is created (0600) when missing."""
        path = Path(data_dir) / KEY_FILE
        try:
            return cls(path.read_bytes().strip())
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile: use theirs
            return cls(path.read_bytes().strip())
        with os.fdopen(fd, "wb") as file:
            file.write(key + b"\n")
        return cls(key)

    def seal(self, value: str) -> str:
        if not value:
            return ""
        return self._fernet.encrypt(value.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        if not sealed:
            return ""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise SealedSecretError(
                "the stored credential cannot be decrypted with this key"
            ) from None
