"""Authentication's pieces: HTTP Basic parsing and the failed-login limiter."""

from __future__ import annotations

import pytest

from harborlite.accounts.authentication import parse_basic


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
