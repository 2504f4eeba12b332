"""What a running line knows about itself: rates, latencies, counts, and its newest result."""

from __future__ import annotations

import threading
import time
from collections import Counter

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
    """Rates over a rolling window, latency percentiles per stage, defects per class.

    Frames captured before ``restart`` (a compile the run waited for) are inspected but not timed,
    so the numbers describe the line, not the compile.
    """

    def __init__(self, latency_samples: int = 10_000) -> None:
        self.latency = LatencyTracker(maxlen=latency_samples)
        self.captured = RateMeter()
        self.inspected = RateMeter()
        self.defect_counts: Counter[str] = Counter()
        self.timed_frames = 0
        self.started = time.perf_counter()
        self.ended: float | None = None

    def restart(self) -> None:
        self.latency.clear()
        self.timed_frames = 0
        self.started = time.perf_counter()

    def add(self, result: InspectionResult) -> None:
        self.inspected.tick(result.done_at)
        self.defect_counts.update(d.class_name for d in result.verdict.defects)
        if result.frame.captured_at >= self.started:
            for stage, ms in result.stage_ms().items():
                self.latency.add(stage, ms)
            self.timed_frames += 1

    def fps(self) -> float:
        """Frames inspected per second since the start (or restart), over the whole run."""
        elapsed = (self.ended or time.perf_counter()) - self.started
        return self.timed_frames / elapsed if elapsed > 0 else 0.0
