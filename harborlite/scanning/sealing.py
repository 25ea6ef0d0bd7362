"""Sealing a scanner's access credential at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key
kept in the data folder (``scanner-credentials.key``, created 0600 on first use).

The credential is written to the database sealed and only opened to call the adapter; the API
never shows it. (The registries helper keeps registry credentials the same way; the lead may
merge both into one data-folder key.)
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "scanner-credentials.key"


class SealError(ValueError):
    """A sealed value could not be opened (the key file changed)."""


def _key(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def seal(data_dir: Path, secret: str) -> str:
    """``secret`` sealed (``""`` stays ``""``)."""
    if not secret:
        return ""
    return Fernet(_key(data_dir)).encrypt(secret.encode()).decode("ascii")


def unseal(data_dir: Path, sealed: str) -> str:
    if not sealed:
        return ""
    try:
        return Fernet(_key(data_dir)).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise SealError(
            "the scanner credential cannot be opened with this data folder's key"
        ) from None
