"""What a running line knows about itself: rates, latencies, counts, and its newest result."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

from inspector.inspection.parts import PartVerdict
from inspector.metrics import LatencyTracker, RateMeter
from inspector.pipeline import InspectionResult


class LatestResult:
    """The newest inspection result, handed from the inspection thread to whoever shows it.

    Results are not queued: a slow painter would let them pile up. The reader polls and always gets
    the newest, with a serial number that says whether it has seen it already.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._result: InspectionResult | None = None
        self._serial = 0

    def put(self, result: InspectionResult) -> None:
        with self._lock:
            self._result = result
            self._serial += 1

    def get(self) -> tuple[int, InspectionResult | None]:
        with self._lock:
            return self._serial, self._result


class LineStats:
    """Rates over a rolling window, latency percentiles per stage, defects per class, parts and
    their yield (over the run, and over the last ``yield_window`` parts).

    Frames captured before ``restart`` (a compile the run waited for) are inspected but not timed,
    so the numbers describe the line, not the compile.
    """

    def __init__(self, latency_samples: int = 10_000, yield_window: int = 50) -> None:
        self.latency = LatencyTracker(maxlen=latency_samples)
        self.captured = RateMeter()
        self.inspected = RateMeter()
        self.defect_counts: Counter[str] = Counter()  # defects on the frames (with no part class)
        self.parts_ok = 0
        self.parts_ng = 0
        self.ng_by_class: Counter[str] = Counter()  # NG parts per defect class found on them
        self.part_times: deque[float] = deque()  # when parts were decided, for parts per minute
        self._recent: deque[bool] = deque(maxlen=yield_window)  # the last parts, True for OK
        self.yield_trend: deque[tuple[int, float]] = deque(maxlen=2000)  # (parts so far, rolling yield %)
        self.last_part: PartVerdict | None = None
        self.timed_frames = 0
        self.started = time.perf_counter()
        self.ended: float | None = None

    def restart(self) -> None:
        self.latency.clear()
        self.timed_frames = 0
        self.started = time.perf_counter()

    @property
    def parts(self) -> int:
        return self.parts_ok + self.parts_ng

    def parts_per_minute(self, now: float | None = None) -> float:
        """Parts decided over the last minute (over the run so far, while it is younger)."""
        now = time.perf_counter() if now is None else now
        while self.part_times and now - self.part_times[0] > 60.0:
            self.part_times.popleft()
        span = min(60.0, now - self.started)
        return len(self.part_times) * 60.0 / span if span > 1.0 else 0.0

    def add(self, result: InspectionResult) -> None:
        self.inspected.tick(result.done_at)
        self.defect_counts.update(d.class_name for d in result.verdict.defects)
        for part in result.decided:
            self.add_part(part, result.done_at)
        if result.frame.captured_at >= self.started:
            for stage, ms in result.stage_ms().items():
                self.latency.add(stage, ms)
            self.timed_frames += 1

    def add_part(self, part: PartVerdict, at: float) -> None:
        """A decided part (``at``: ``perf_counter`` time); a defect with no part under it counts
        with the defects, not here."""
        if not part.kind:
            return
        self.parts_ng += part.ng
        self.parts_ok += not part.ng
        self.ng_by_class.update(part.defect_classes)
        self.part_times.append(at)
        self.last_part = part
        self._recent.append(not part.ng)
        self.yield_trend.append((self.parts, 100.0 * sum(self._recent) / len(self._recent)))

    @property
    def recent_parts(self) -> int:
        """How many parts ``rolling_yield`` is over."""
        return len(self._recent)

    def rolling_yield(self) -> float | None:
        """Yield % over the last ``yield_window`` parts (fewer while the run is younger)."""
        return self.yield_trend[-1][1] if self.yield_trend else None

    def fps(self) -> float:
        """Frames inspected per second since the start (or restart), over the whole run."""
        elapsed = (self.ended or time.perf_counter()) - self.started
        return self.timed_frames / elapsed if elapsed > 0 else 0.0
