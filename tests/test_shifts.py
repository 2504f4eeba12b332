"""Shift starts in the plant's local time, whatever zone the log's UTC times are read in."""

import time
from datetime import UTC, datetime

import pytest

from inspector.errors import ConfigError
from inspector.shifts import Shifts, naive_utc


@pytest.fixture
def berlin(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("local", "start"),
    [
        ("2026-11-30 05:59", "2026-11-29 22:00"),  # before the first shift: yesterday's last
        ("2026-11-30 06:00", "2026-11-30 06:00"),
        ("2026-11-30 13:59", "2026-11-30 06:00"),
        ("2026-11-30 23:30", "2026-11-30 22:00"),
        ("2026-03-29 05:00", "2026-03-28 22:00"),  # the night the clocks go forward
    ],
)
def test_a_time_falls_in_the_shift_that_started_last_before_it(berlin, local, start):
    shifts = Shifts.parse("14:00, 06:00,22:00")
    at = naive_utc(datetime.fromisoformat(local).astimezone())  # as the log stores it
    assert shifts.start_of(at).strftime("%Y-%m-%d %H:%M") == start
    assert shifts.start_of(at.replace(tzinfo=UTC)) == shifts.start_of(at)
    assert str(shifts) == "06:00,14:00,22:00"


@pytest.mark.parametrize("text", ["6am", "06:00,25:00", "06:00,06:00", ""])
def test_bad_shift_starts_are_refused(text):
    with pytest.raises(ConfigError, match="shift start"):
        Shifts.parse(text)
