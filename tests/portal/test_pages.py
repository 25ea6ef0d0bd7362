"""The portal's page helpers: where a sign-in may send the browser next."""

from __future__ import annotations

import pytest

from harborlite.portal.pages import safe_next


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/projects", "/projects"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        (None, "/"),
    ],
)
def test_safe_next(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected
