"""Password hashing (bcrypt) and the cache of recently verified credentials."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass

import bcrypt

BCRYPT_ROUNDS = 10
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_BYTES = 72  # bcrypt's limit


class PasswordPolicyError(ValueError):
    pass


def check_policy(password: str) -> None:
    """Harbor's rule: 8 to 128 characters with an upper, a lower case letter and a digit.

    Longer than bcrypt's 72 bytes is refused rather than silently cut.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError("password must be at least 8 characters long")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise PasswordPolicyError("password must be at most 72 bytes long")
    if not (
        any(c.isupper() for c in password)
        and any(c.islower() for c in password)
        and any(c.isdigit() for c in password)
    ):
        raise PasswordPolicyError(
            "password must contain at least one upper case letter, one lower case letter "
            "and one digit"
        )


def password_stamp(password_hash: str) -> str:
    """A short fingerprint of a stored password hash: what was opened with a password (a
    refresh token, a portal session) dies when the password changes, wherever it changes."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def hash_password_blocking(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hash_password_blocking, password)


async def verify_password(password: str, password_hash: str) -> bool:
    encoded = password.encode()
    if len(encoded) > MAX_PASSWORD_BYTES:
        return False
    try:
        return await asyncio.to_thread(bcrypt.checkpw, encoded, password_hash.encode("ascii"))
    except ValueError:
        return False


@dataclass(frozen=True)
class CachedCredential:
    user_id: int
    secret_digest: bytes
    password_hash: str
    expires: float


class CredentialCache:
    """Recently verified (user, password) pairs, so a 20-layer pull hashes once, not 20 times.

    Only successes are kept, keyed by user name, holding a SHA-256 of the password (never the
    password). Changing, disabling or deleting a user drops the entry.
    """

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[str, CachedCredential] = {}

    @staticmethod
    def _digest(username: str, password: str) -> bytes:
        return hashlib.sha256(f"{username}\0{password}".encode()).digest()

    def lookup(self, username: str, password: str, password_hash: str) -> int | None:
        entry = self._entries.get(username)
        if entry is None:
            return None
        if entry.expires < time.monotonic() or entry.password_hash != password_hash:
            self._entries.pop(username, None)
            return None
        if hmac.compare_digest(entry.secret_digest, self._digest(username, password)):
            return entry.user_id
        return None

    def remember(self, username: str, password: str, user_id: int, password_hash: str) -> None:
        if self._ttl <= 0:
            return
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[username] = CachedCredential(
            user_id=user_id,
            secret_digest=self._digest(username, password),
            password_hash=password_hash,
            expires=time.monotonic() + self._ttl,
        )

    def forget(self, username: str) -> None:
        self._entries.pop(username, None)
