"""Jinja filters: sizes, times, digests and roles as people read them (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

from harborlite.auth.permissions import Role

ROLE_TITLES = {
    Role.PROJECT_ADMIN: "Project Admin",
    Role.MAINTAINER: "Maintainer",
    Role.DEVELOPER: "Developer",
    Role.GUEST: "Guest",
    Role.LIMITED_GUEST: "Limited Guest",
}


def human_size(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


def timestamp(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = int((now - value).total_seconds())
    if seconds < 45:
        return "just now"
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            n = seconds // length
            if unit == "day" and n > 30:
                return value.astimezone(UTC).strftime("%Y-%m-%d")
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def short_digest(digest: str | None) -> str:
    if not digest:
        return ""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}:{hexdigest[:12]}" if hexdigest else digest[:19]


def role_title(role: Role | int | None) -> str:
    if role is None:
        return "—"
    return ROLE_TITLES[Role(role)]
