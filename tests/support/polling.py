"""Waiting for what a server does just after it answers (logs, audit entries, restarts)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(found: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll ``found`` until it answers something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = found()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.05)
