"""Shifts: the plant's day cut at fixed local times, so yield is counted per shift as a line reports it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from inspector.errors import ConfigError

DEFAULT_SHIFTS = "06:00,14:00,22:00"


@dataclass(frozen=True, slots=True)
class Shifts:
    """Each shift starts at one of ``starts`` (local wall-clock times) and runs to the next."""

    starts: tuple[time, ...]

    @classmethod
    def parse(cls, text: str) -> Shifts:
        """``"06:00,14:00,22:00"``: the local times shifts start at."""
        starts = []
        for item in text.split(","):
            try:
                starts.append(time.fromisoformat(item.strip()))
            except ValueError:
                raise ConfigError(
                    f"shift start {item.strip()!r}: give local times as HH:MM, e.g. {DEFAULT_SHIFTS}"
                ) from None
        if len(set(starts)) != len(starts):
            raise ConfigError(f"shift starts {text!r}: a time is given twice")
        return cls(tuple(sorted(starts)))

    def start_of(self, at: datetime) -> datetime:
        """The local start of the shift ``at`` falls in (``at``: aware, or naive UTC as logged)."""
        local = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone()
        day = local.date()
        for start in reversed(self.starts):
            begins = datetime.combine(day, start).astimezone()
            if begins <= local:
                return begins
        return datetime.combine(day - timedelta(days=1), self.starts[-1]).astimezone()

    def current(self, now: datetime | None = None) -> datetime:
        return self.start_of(now or datetime.now(UTC))

    def __str__(self) -> str:
        return ",".join(s.strftime("%H:%M") for s in self.starts)


def naive_utc(at: datetime) -> datetime:
    """An aware time as the log stores times."""
    return at.astimezone(UTC).replace(tzinfo=None)
