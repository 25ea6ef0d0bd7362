"""How the portal writes sizes, times, digests and roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harborlite.auth.permissions import Role
from harborlite.portal.formatting import ago, human_size, role_title, short_digest


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024**3, "5.0 GiB"), (None, "—")],
)
def test_human_size(size: int | None, text: str) -> None:
    assert human_size(size) == text


def test_ago() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert ago(None) == "never"
    assert ago(now - timedelta(seconds=10), now) == "just now"
    assert ago(now - timedelta(minutes=1), now) == "1 minute ago"
    assert ago(now - timedelta(hours=5), now) == "5 hours ago"
    assert ago(now - timedelta(days=40), now) == "2026-10-19"


def test_short_digest_and_roles() -> None:
    assert short_digest("sha256:" + "ab" * 32) == "sha256:abababababab"
    assert short_digest("") == ""
    assert role_title(Role.DEVELOPER) == "Developer"
    assert role_title(1) == "Project Admin"
    assert role_title(None) == "—"
