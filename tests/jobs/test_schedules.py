"""Harbor's schedule types and 6-field crons (seconds first), and the next time each fires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harborlite.errors import BadRequest
from harborlite.jobs.schedules import PRESETS, cron_of, next_run

NOON = datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("kind", "after", "expected"),
    [
        ("Hourly", NOON, NOON + timedelta(hours=1)),
        ("Daily", NOON, datetime(2026, 3, 5, tzinfo=UTC)),
        ("Weekly", NOON, datetime(2026, 3, 8, tzinfo=UTC)),  # Sunday midnight
    ],
)
def test_the_presets_fire_as_harbor_s(kind: str, after: datetime, expected: datetime) -> None:
    assert cron_of(kind, None) == PRESETS[kind]
    assert cron_of(kind, "ignored for a preset") == PRESETS[kind]
    assert next_run(cron_of(kind, None), after) == expected


def test_manual_and_none_have_no_time() -> None:
    for kind in ("Manual", "None"):
        assert cron_of(kind, "0 0 * * * *") == ""
    assert next_run("", NOON) is None


def test_a_custom_cron_has_six_fields_seconds_first() -> None:
    cron = cron_of("Custom", "  */3 * * * * *  ")
    assert cron == "*/3 * * * * *"
    first = next_run(cron, NOON + timedelta(seconds=1))
    assert first == NOON + timedelta(seconds=3)
    assert next_run(cron, first) == NOON + timedelta(seconds=6)  # strictly after
    assert next_run("30 15 10 * * *", NOON) == datetime(2026, 3, 5, 10, 15, 30, tzinfo=UTC)


def test_next_run_is_in_utc() -> None:
    found = next_run("0 0 0 * * *", datetime(2026, 3, 4, 23, 30, tzinfo=UTC))
    assert found == datetime(2026, 3, 5, tzinfo=UTC)
    assert found is not None and found.utcoffset() == timedelta(0)


def test_next_run_defaults_to_after_now() -> None:
    found = next_run("* * * * * *")
    assert found is not None
    assert timedelta(0) < found - datetime.now(UTC) <= timedelta(seconds=1)


@pytest.mark.parametrize(
    ("kind", "cron", "says"),
    [
        ("Sometimes", None, "invalid schedule type 'Sometimes'"),
        ("custom", "0 0 * * * *", "invalid schedule type"),  # the case matters, as in Harbor
        ("Custom", None, "6 fields, seconds first"),
        ("Custom", "0 * * * *", "6 fields, seconds first"),  # a 5-field crontab line
        ("Custom", "0 0 0 * * * *", "6 fields"),
        ("Custom", "every day", "6 fields"),
        ("Custom", "61 * * * * *", "invalid cron '61 * * * * *'"),
        ("Custom", "0 0 25 * * *", "invalid cron"),
        ("Custom", "a b c d e f", "invalid cron"),
    ],
)
def test_bad_schedules_are_refused(kind: str, cron: str | None, says: str) -> None:
    with pytest.raises(BadRequest) as refused:
        cron_of(kind, cron)
    assert says in refused.value.message
