"""``inspector bench`` on the CPU at a small size: every contender runs, the report holds what the
docs quote from it, and agreement is judged on the boxes, not assumed."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from inspector.inference.engine import Engine
from inspector.lab.bench import (
    BenchOptions,
    _eager_stream_while,
    agreement,
    bench_batches,
    bench_frames,
    format_bench,
    run_bench,
    time_interleaved,
)
from inspector.paths import demo_model_path

BOX = (10.0, 10.0, 50.0, 50.0)
H100_REPORT = Path(__file__).parents[2] / "docs" / "bench" / "h100-yolo11n-tc-forward.json"


def test_agreement_counts_matches_misses_and_confidence():
    same = agreement([[("dent", BOX, 0.9)]], [[("dent", BOX, 0.89)]])
    assert same["agree"] and same["matched"] == 1 and same["max_conf_diff"] == pytest.approx(0.01)
    shifted = agreement([[("dent", BOX, 0.9)]], [[("dent", (30.0, 30.0, 70.0, 70.0), 0.9)]])
    assert not shifted["agree"] and shifted["missed"] == 1 and shifted["extra"] == 1
    other_class = agreement([[("dent", BOX, 0.9)]], [[("stain", BOX, 0.9)]])
    assert not other_class["agree"] and other_class["matched"] == 0
    unsure = agreement([[("dent", BOX, 0.9)]], [[("dent", BOX, 0.8)]])
    assert unsure["matched"] == 1 and not unsure["agree"], "confidence off by 0.1 is a disagreement"


def test_contenders_are_timed_in_turns_on_the_same_batches():
    frames = [np.full((4, 4, 3), i, dtype=np.uint8) for i in range(3)]
    batches = bench_batches(frames, 2)
    assert [[int(f[0, 0, 0]) for f in b] for b in batches] == [[0, 1], [2, 0], [1, 2]]
    calls = []

    def contender(name):
        def call(batch):
            calls.append(name)
            return [[(name, BOX, float(f[0, 0, 0]))] for f in batch]

        return call

    contenders = {"a": contender("a"), "b": contender("b")}
    stats, boxes = time_interleaved(contenders, batches, iters=4, warmup=1, rounds=2)
    timed = calls[2 : 2 + 8]  # after one warm-up call each
    assert timed == ["a", "a", "b", "b", "a", "a", "b", "b"]
    assert stats["a"]["fps"] > 0 and set(stats) == {"a", "b"}
    assert [s for ((_, _, s),) in boxes["a"]] == [0.0, 1.0, 2.0, 0.0, 1.0, 2.0]  # every frame of every batch


def test_the_switch_stream_runs_frames_as_a_camera_delivers_them(demo_model):
    engine = Engine(demo_model, imgsz=96)
    frames = bench_frames(320, 240, count=2)
    for line_fps, expected in ((10, range(6, 12)), (0, range(15, 10_000))):
        deadline = time.perf_counter() + 1.0
        stream = _eager_stream_while(engine, frames, lambda d=deadline: time.perf_counter() < d, line_fps)
        assert stream["frames"] in expected, (line_fps, stream)


@pytest.mark.slow
def test_bench_runs_every_inspector_contender_in_batches_and_the_switch_on_cpu():
    opts = BenchOptions(
        weights=str(demo_model_path()),
        device=torch.device("cpu"),
        imgsz=160,
        modes=("default",),
        iters=5,
        warmup=1,
        frame_width=640,
        frame_height=360,
        ultralytics=False,
        switch_s=1.0,
        batch=2,
    )
    said = []
    report = run_bench(opts, said.append)
    json.dumps(report)  # the --json output is one plain object
    latency = report["latency_ms"]
    compiled_name = "inspector compiled (default)"
    assert set(latency) == {
        "inspector eager",
        "forward only (floor)",
        "forward only, torch.compile reduce-overhead, square input",  # 160x160 where the frames make 160x96
        compiled_name,
        f"{compiled_name}, frame copied",
    }
    assert all(0 < s["p50"] <= s["p99"] <= s["max"] for s in latency.values())
    assert report["batch"] == 2 and all(s["fps"] > 1000 / s["mean"] for s in latency.values())
    no_ultralytics_here = {"x floor", "x torch.compile forward"}
    assert set(report["speedup_p50"][compiled_name]) == no_ultralytics_here
    compiled = report["compile"]["inspector compiled (default)"]
    assert not compiled["cold"]["cache_hit"] and compiled["warm"]["cache_hit"]
    for name in (compiled_name, f"{compiled_name}, frame copied"):  # frames from the pool, and copied
        agreed = report["agreement"][f"{name} vs inspector eager"]
        assert agreed["agree"] and agreed["matched"] > 0, "the demo model finds defects in these frames"
    switch = report["switch"]
    assert switch["error"] is None and switch["warm"]["cache_hit"] and not switch["cold"]["cache_hit"]
    assert switch["worker_start_s"] > 0 and switch["cold"]["worker_start_s"] < 0.5  # started before
    for stream in ("before", "during_worker_start", "during_cold_compile", "during_warm_compile"):
        assert switch[f"eager_{stream}"]["frames"] > 0 and switch[f"eager_{stream}"]["fps"] > 0
    table = format_bench(report)
    assert "inspector compiled (default)" in table and "warm compile on a started worker" in table
    assert "compile worker start" in table
    assert "ms per batch of 2" in table


def test_the_table_s_columns_line_up_under_the_longest_contender_name():
    report = json.loads(H100_REPORT.read_text())
    lines = format_bench(report).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("end to end"))
    table = lines[start : start + 1 + len(report["latency_ms"])]
    assert max(map(len, report["latency_ms"])) > 42  # the torch.compile forward's name
    assert len({len(line) for line in table}) == 1, table  # every column ends where its header does
    stages = [line for line in lines if "  pre " in line]
    assert len(stages) == len(report["stage_p50_ms"]) and len({line.index(" pre ") for line in stages}) == 1
