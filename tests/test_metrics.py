import math

from inspector.metrics import LatencyTracker, RateMeter


def test_rate_over_a_window():
    meter = RateMeter(window_s=1.0)
    for i in range(31):
        meter.tick(10.0 + i / 30)
    assert math.isclose(meter.rate(11.0), 30.0, rel_tol=0.05)
    assert meter.rate(22.0) == 0.0  # nothing in the last ten seconds


def test_a_rate_slower_than_its_window_reads_steady_not_zero_and_ends_at_zero():
    meter = RateMeter(window_s=2.0, longest_s=10.0)
    readings = []
    for i in range(12):  # one event every 1.5 s: at most two in any 2 s window
        meter.tick(100.0 + 1.5 * i)
        readings += [meter.rate(100.0 + 1.5 * i + dt) for dt in (0.0, 0.5, 1.0, 1.49)]
    steady = readings[8:]
    assert all(abs(r - 1 / 1.5) < 0.01 for r in steady), steady  # 0.67/s between events too
    assert 0.2 < meter.rate(100.0 + 1.5 * 11 + 5.0) < 0.5  # the next event is late: the rate sags
    assert meter.rate(100.0 + 1.5 * 11 + 10.1 + 3.0) == 0.0  # stopped: zero once the events are old


def test_percentiles():
    tracker = LatencyTracker(maxlen=100)
    for v in range(1, 201):
        tracker.add("infer", float(v))
    p = tracker.percentiles("infer")
    assert p["p50"] == 150.5  # only the last 100 samples count
    assert math.isnan(tracker.percentiles("absent")["p50"])
