"""Robot secrets: generated as Harbor makes them, checked by Harbor's rule, stored slow-hashed.

A generated secret is 32 characters of ``[a-zA-Z0-9]`` holding an upper case letter, a lower
case letter and a digit (Harbor's ``CreateSec``). A caller-chosen one must be 8 to 128
characters with the same three kinds (``IsValidSec``). Secrets are stored with the users'
salted slow hash (:func:`harborlite.accounts.passwords.hash_password`); a secret longer than
that hash takes (72 bytes) is hashed with SHA-256 first, so all 128 characters count. Check a
secret with :func:`verify_secret`, never by comparing strings.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string

from harborlite.accounts.passwords import MAX_PASSWORD_BYTES, hash_password, verify_password

SECRET_LENGTH = 32
ALPHABET = string.ascii_letters + string.digits
MIN_SECRET, MAX_SECRET = 8, 128
SECRET_RULE = (
    "the secret must be 8-128, inclusively, characters long with at least 1 uppercase letter, "
    "1 lowercase letter and 1 number"
)


def _has_all_kinds(secret: str) -> bool:
    return (
        any(c.isupper() for c in secret)
        and any(c.islower() for c in secret)
        and any(c.isdigit() for c in secret)
    )


def generate_secret() -> str:
    """32 random letters and digits, with at least one upper, one lower case letter, one digit."""
    while True:
        secret = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))
        if _has_all_kinds(secret):
            return secret


def valid_secret(secret: str) -> bool:
    """Harbor's rule for a secret a caller chooses."""
    return MIN_SECRET <= len(secret) <= MAX_SECRET and _has_all_kinds(secret)


def _hash_input(secret: str) -> str:
    """What the slow hash is given: the secret, or its SHA-256 when the hash cannot take it."""
    if len(secret.encode()) <= MAX_PASSWORD_BYTES:
        return secret
    digest = hashlib.sha256(secret.encode()).digest()
    return "sha256:" + base64.b64encode(digest).decode("ascii")


async def hash_secret(secret: str) -> str:
    """The salted slow hash of ``secret``, to store (the secret itself is never stored)."""
    return await hash_password(_hash_input(secret))


async def verify_secret(secret: str, secret_hash: str) -> bool:
    """Whether ``secret`` is the one ``secret_hash`` was made from."""
    if len(secret) > MAX_SECRET * 4:  # no hashing of megabytes sent as a password
        return False
    return await verify_password(_hash_input(secret), secret_hash)
