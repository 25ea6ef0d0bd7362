"""The rules of a storage limit, pure: what a valid hard limit is, and Harbor's refusal text."""

from __future__ import annotations

from dataclasses import dataclass

from harborlite.errors import BadRequest
from harborlite.quotas.models import UNLIMITED

MAX_STORAGE = 1024**5  # 1024 TB, Harbor's upper bound (1125899906842624)
STORAGE = "storage"  # Harbor 2.x's only resource


def format_size(value: int) -> str:
    """Bytes as Harbor writes them in a refusal: ``100 B``, ``1.5 KiB``, ``29.0 MiB``."""
    if value < 1024:
        return f"{value} B"
    divisor, exponent = 1024, 0
    scaled = value // 1024
    while scaled >= 1024:
        divisor *= 1024
        exponent += 1
        scaled //= 1024
    return f"{value / divisor:.1f} {'KMGTPE'[exponent]}iB"


@dataclass(frozen=True)
class Overflow:
    """A request that would take the project past its limit (Harbor's ResourceOverflow)."""

    hard: int
    used: int
    new_used: int

    @property
    def message(self) -> str:
        if self.new_used > self.used:
            operation, delta = "adding", self.new_used - self.used
        else:
            operation, delta = "subtracting", self.used - self.new_used
        return (
            f"{operation} {format_size(delta)} of {STORAGE} resource, which when updated to "
            f"current usage of {format_size(self.used)} will exceed the configured upper "
            f"limit of {format_size(self.hard)}."
        )


def overflow(hard: int, used: int, adding: int) -> Overflow | None:
    """The refusal when ``adding`` bytes to ``used`` passes ``hard``; None when it fits (an
    unlimited quota, nothing added, or room left)."""
    if hard == UNLIMITED or adding <= 0 or used + adding <= hard:
        return None
    return Overflow(hard, used, used + adding)


def already_over(hard: int, used: int) -> Overflow | None:
    """A project over its limit already (the limit lowered, or pushes that raced): an upload
    is refused before any byte is sent, with Harbor's "subtracting 0 B" sentence."""
    if hard == UNLIMITED or used <= hard:
        return None
    return Overflow(hard, used, used)


def checked_hard(value: object, what: str = "storage") -> int:
    """A hard limit: ``-1`` (unlimited) or 1 byte to 1024 TB; BadRequest otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{what} must be a whole number of bytes, or -1 for unlimited")
    if value == UNLIMITED:
        return value
    if value <= 0:
        raise BadRequest(f"invalid value for resource {STORAGE}: {what} must be -1 or above 0")
    if value > MAX_STORAGE:
        raise BadRequest(f"{what} must be at most {MAX_STORAGE} bytes (1024 TB)")
    return value
