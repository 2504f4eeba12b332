"""The tracking benchmark feeds the part book a line with about ten parts in view."""

import json

from inspector.cli import main
from inspector.lab.tracking_bench import line_detections, measure_tracking


def test_the_wide_line_holds_about_ten_parts_and_the_book_decides_them(capsys):
    report = measure_tracking(frames=400, warmup=100)
    assert 8 <= report["parts_in_view_mean"] <= 12 and report["parts_decided"] >= 5
    ms = report["ms_per_frame"]
    assert 0 < ms["p50"] <= ms["p95"] <= ms["p99"]
    assert set(report["station_cpu_us_per_frame"]) == {"book here", "book in a process"}
    assert all(us > 0 for us in report["station_cpu_us_per_frame"].values())
    assert main(["bench", "--tracking-only", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tracking"]["frames"] == 2000


def test_detections_are_the_line_s_truth_cut_by_the_frame():
    frames = line_detections(50, seed=3, miss=0.0)
    boxes = [d for dets in frames for d in dets]
    assert boxes and all(0 <= d.x1 < d.x2 <= 3840 for d in boxes)
    assert {d.class_name for d in boxes} >= {"plate"}
