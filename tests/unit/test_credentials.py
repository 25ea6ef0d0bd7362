"""The verified-credential cache and the failed-login limiter."""

from __future__ import annotations

import asyncio
import time

import pytest

from harborlite.accounts.authentication import FailureLimiter, parse_basic
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


async def test_limiter_slows_down_after_five_failures() -> None:
    limiter = FailureLimiter(free=5, window=60)
    for _ in range(5):
        limiter.failed("mallory")
    started = time.monotonic()
    await limiter.delay("mallory")
    assert time.monotonic() - started < 0.1
    limiter.failed("mallory")
    limiter.failed("mallory")
    started = time.monotonic()
    await limiter.delay("mallory")
    assert time.monotonic() - started >= 0.45  # 2 past the free ones: 2 x 0.25 s
    limiter.succeeded("mallory")
    started = time.monotonic()
    await asyncio.wait_for(limiter.delay("mallory"), 1)
    assert time.monotonic() - started < 0.1


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


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic YWxpY2U6czNjcjN0", ("alice", "s3cr3t")),
        ("basic YTpiOmM=", ("a", "b:c")),
        ("Bearer x", None),
        ("Basic !!!", None),
        ("Basic YWxpY2U=", None),
        (None, None),
    ],
)
def test_parse_basic(header: str | None, expected: tuple[str, str] | None) -> None:
    assert parse_basic(header) == expected


def test_limiter_flood_of_names_keeps_a_recent_target() -> None:
    limiter = FailureLimiter(free=5, window=300)
    for _ in range(7):
        limiter.failed("target")
    for n in range(50_010):
        limiter.failed(f"noise{n}")
    assert len(limiter._recent("target")) == 7
