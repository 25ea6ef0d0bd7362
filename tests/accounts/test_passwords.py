"""Passwords: the verified-credential cache, bcrypt, and the password policy."""

from __future__ import annotations

import time

import pytest

from harborlite.accounts.passwords import (
    CredentialCache,
    PasswordPolicyError,
    check_policy,
    hash_password_blocking,
    verify_password,
)


def test_cache_remembers_only_the_same_password_and_hash() -> None:
    cache = CredentialCache(ttl_seconds=60)
    cache.remember("alice", "Secret123", 7, "hash-1")
    assert cache.lookup("alice", "Secret123", "hash-1") == 7
    assert cache.lookup("alice", "wrong", "hash-1") is None
    assert cache.lookup("bob", "Secret123", "hash-1") is None
    # a new stored hash (password changed elsewhere) invalidates the entry
    assert cache.lookup("alice", "Secret123", "hash-2") is None
    assert cache.lookup("alice", "Secret123", "hash-1") is None


def test_cache_forget_and_expiry() -> None:
    cache = CredentialCache(ttl_seconds=60)
    cache.remember("alice", "Secret123", 7, "h")
    cache.forget("alice")
    assert cache.lookup("alice", "Secret123", "h") is None
    short = CredentialCache(ttl_seconds=0.01)
    short.remember("alice", "Secret123", 7, "h")
    time.sleep(0.02)
    assert short.lookup("alice", "Secret123", "h") is None
    disabled = CredentialCache(ttl_seconds=0)
    disabled.remember("alice", "Secret123", 7, "h")
    assert disabled.lookup("alice", "Secret123", "h") is None


def test_cache_never_holds_the_password() -> None:
    cache = CredentialCache(ttl_seconds=60)
    cache.remember("alice", "Secret123", 7, "h")
    assert "Secret123" not in repr(cache._entries)


async def test_bcrypt_round_trip_and_limits() -> None:
    stored = hash_password_blocking("Secret123")
    assert stored.startswith("$2b$10$")
    assert await verify_password("Secret123", stored)
    assert not await verify_password("Secret124", stored)
    assert not await verify_password("x" * 100, stored)  # beyond bcrypt's 72 bytes
    assert not await verify_password("Secret123", "not-a-hash")


@pytest.mark.parametrize(
    "password", ["short1A", "alllowercase1", "ALLUPPER1", "NoDigitsHere", "A1" + "a" * 80]
)
def test_password_policy_refuses(password: str) -> None:
    with pytest.raises(PasswordPolicyError):
        check_policy(password)
