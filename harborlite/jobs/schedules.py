"""Harbor's schedules: ``Hourly``, ``Daily``, ``Weekly``, ``Custom`` (a 6-field cron, seconds
first: ``0 0 * * * *``), ``Manual`` (run now) and ``None`` (no schedule)."""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import CroniterError, croniter

from harborlite.errors import BadRequest

PRESETS = {
    "Hourly": "0 0 * * * *",
    "Daily": "0 0 0 * * *",
    "Weekly": "0 0 0 * * 0",
}
TYPES = ("Hourly", "Daily", "Weekly", "Custom", "Manual", "None")


def cron_of(schedule_type: str, cron: str | None) -> str:
    """The cron a schedule runs on ("" for Manual and None); BadRequest for a bad one."""
    if schedule_type not in TYPES:
        raise BadRequest(f"invalid schedule type {schedule_type!r}: one of {', '.join(TYPES)}")
    if schedule_type in PRESETS:
        return PRESETS[schedule_type]
    if schedule_type != "Custom":
        return ""
    cron = (cron or "").strip()
    if len(cron.split()) != 6:
        raise BadRequest(
            f"invalid cron {cron!r}: 6 fields, seconds first (for example '0 0 * * * *')"
        )
    try:
        croniter(cron, second_at_beginning=True)
    except (CroniterError, ValueError) as error:
        raise BadRequest(f"invalid cron {cron!r}: {error}") from None
    return cron


def next_run(cron: str, after: datetime | None = None) -> datetime | None:
    """The first time ``cron`` fires after ``after`` (now), in UTC; None without a cron."""
    if not cron:
        return None
    start = after or datetime.now(UTC)
    following: datetime = croniter(cron, start, second_at_beginning=True).get_next(datetime)
    return following.astimezone(UTC)
