import math

from inspector.metrics import LatencyTracker, RateMeter


def test_rate_over_a_window():
    meter = RateMeter(window_s=1.0)
    for i in range(31):
        meter.tick(10.0 + i / 30)
    assert math.isclose(meter.rate(11.0), 30.0, rel_tol=0.05)
    assert meter.rate(20.0) == 0.0  # nothing in the last second


def test_percentiles():
    tracker = LatencyTracker(maxlen=100)
    for v in range(1, 201):
        tracker.add("infer", float(v))
    p = tracker.percentiles("infer")
    assert p["p50"] == 150.5  # only the last 100 samples count
    assert math.isnan(tracker.percentiles("absent")["p50"])
