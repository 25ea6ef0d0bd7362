"""CSRF tokens: one per session for forms and cookie-authenticated API writes; a
double-submit cookie for the only form shown before login (the login form itself)."""

from __future__ import annotations

import hmac

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-harbor-csrf-token"
ANON_CSRF_COOKIE = "harborlite_csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def tokens_match(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; an empty or missing token never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
