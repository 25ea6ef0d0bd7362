"""Authentication's pieces: HTTP Basic parsing and the failed-login limiter."""

from __future__ import annotations

import asyncio
import time

import pytest

from harborlite.accounts.authentication import FailureLimiter, parse_basic


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
