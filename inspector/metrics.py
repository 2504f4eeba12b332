"""Rolling frame rates and latency percentiles per stage, as the gauges and summaries show them."""

from __future__ import annotations

import time
from collections import defaultdict, deque

import numpy as np


class RateMeter:
    """Events per second over the last ``window_s`` seconds; where fewer than ``FEWEST`` events fall
    in it (inference slower than a frame a second), over the last ``FEWEST`` events instead, up to
    ``longest_s`` old. A 2 s window alone read 0.0, 16.3, 3.6, 0.5 for a steady 0.7 frames/s."""

    FEWEST = 3

    def __init__(self, window_s: float = 2.0, longest_s: float = 10.0) -> None:
        self.window_s = window_s
        self.longest_s = longest_s
        self._times: deque[float] = deque()
        self._last: deque[float] = deque(maxlen=self.FEWEST)

    def tick(self, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        self._times.append(now)
        self._last.append(now)
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        if len(self._times) >= self.FEWEST:
            span = max(now, self._times[-1]) - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0
        events = [t for t in self._last if now - t <= self.longest_s]
        if len(events) < 2:
            return 0.0
        between = events[-1] - events[0]
        # the next event is not late until a mean interval has passed: only then does the rate sag
        span = max(between, now - events[0] - between / (len(events) - 1))
        return (len(events) - 1) / span if span > 0 else 0.0


class LatencyTracker:
    """The last ``maxlen`` samples (ms) of each stage."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._samples: defaultdict[str, deque[float]] = defaultdict(lambda: deque(maxlen=maxlen))

    def clear(self) -> None:
        self._samples.clear()

    def add(self, stage: str, ms: float) -> None:
        self._samples[stage].append(ms)

    def stages(self) -> list[str]:
        return list(self._samples)

    def percentiles(self, stage: str, qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
        data = self._samples.get(stage)
        if not data:
            return {f"p{q:g}": float("nan") for q in qs}
        values = np.percentile(np.fromiter(data, float, len(data)), qs)
        return {f"p{q:g}": round(float(v), 3) for q, v in zip(qs, values, strict=True)}

    def summary(self) -> dict[str, dict[str, float]]:
        return {stage: self.percentiles(stage) for stage in self._samples}
