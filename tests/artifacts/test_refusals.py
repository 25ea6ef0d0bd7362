"""Which refused registry requests get an audit entry (the throttle; the entries themselves are
tested end to end in tests/e2e/test_refusal_records.py and test_docker.py)."""

from __future__ import annotations

import pytest

from harborlite.artifacts import refusals
from harborlite.artifacts.refusals import RefusalThrottle, Refused


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(refusals.time, "monotonic", clock)
    return clock


def test_the_same_refusal_is_recorded_once_a_minute(clock: Clock) -> None:
    throttle = RefusalThrottle()
    pull = Refused("p/r", "v1", "GET")
    assert throttle.worth_recording("dev", "10.0.0.1", pull)
    assert not throttle.worth_recording("dev", "10.0.0.1", pull)  # docker retrying
    assert not throttle.worth_recording("dev", "10.0.0.1", Refused("p/r", "v2", "HEAD"))
    assert throttle.worth_recording("dev", "10.0.0.1", Refused("p/r", "", "POST"))  # a push
    assert throttle.worth_recording("dev", "10.0.0.2", pull)  # from elsewhere
    assert throttle.worth_recording("ops", "10.0.0.1", pull)  # someone else
    clock.now += 61
    assert throttle.worth_recording("dev", "10.0.0.1", pull)


def test_a_flood_under_made_up_names_is_capped(clock: Clock) -> None:
    throttle = RefusalThrottle(per_second=5)
    written = [
        throttle.worth_recording("", "10.0.0.9", Refused(f"p{n}/r", "", "GET")) for n in range(50)
    ]
    assert written.count(True) == 5
    clock.now += 1  # the allowance comes back with time
    assert throttle.worth_recording("", "10.0.0.9", Refused("fresh/r", "", "GET"))
