"""The CSRF token comparison: equal, non-empty tokens only."""

from __future__ import annotations

from harborlite.sessions.csrf import tokens_match


def test_tokens_match() -> None:
    assert tokens_match("abc", "abc")
    assert not tokens_match("abc", "abd")
    assert not tokens_match("", "")
    assert not tokens_match(None, "abc")
