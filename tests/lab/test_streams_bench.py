"""The streams bench: cameras replayed at a frame rate through one line, beside the contenders."""

import sys
import threading
import time

import numpy as np
import pytest
import torch

from inspector.inference.frame_pool import FramePool
from inspector.lab.bench import BenchOptions, bench_frames
from inspector.lab.streams_bench import ReplayCamera, decode_cost, format_streams, measure_streams
from inspector.paths import demo_model_path


def test_a_replay_camera_keeps_its_rate_and_writes_into_the_pool():
    frames = [np.full((48, 64, 3), i, np.uint8) for i in range(3)]
    camera = ReplayCamera("replay", frames, fps=50, phase_s=0.01)
    pool = FramePool(slots=2)
    pool.allocate((48, 64), reserved=1)
    camera.frame_pool = pool
    camera.open()
    started = time.perf_counter()
    got = [camera.read() for _ in range(10)]
    elapsed = time.perf_counter() - started
    assert [int(f.image[0, 0, 0]) for f in got] == [0, 1, 2] * 3 + [0] and [f.index for f in got] == list(
        range(10)
    )
    assert 0.18 <= elapsed < 0.4, f"10 frames at 50/s, 10 ms late: {elapsed:.3f} s"
    # two slots, both still held by the first two frames: the rest are captured outside the pool
    assert [pool.index_of(f.image) is not None for f in got[:3]] == [True, True, False]
    assert not got[0].image.flags.writeable
    threading.Timer(0.05, camera.cancel).start()
    camera._due = time.perf_counter() + 10  # a frame not due for 10 s: cancel ends the wait
    assert camera.read() is None


@pytest.mark.slow
def test_cameras_replayed_through_one_line_are_counted_and_timed():
    opts = BenchOptions(
        weights=str(demo_model_path()),
        device=torch.device("cpu"),
        imgsz=96,
        iters=5,
        frame_width=320,
        frame_height=240,
        tracking_processes=1,
    )
    said = []
    report = measure_streams(opts, (1, 3), fps=4.0, seconds=2.0, mode="openvino", say=said.append, rounds=2)
    for n in ("1", "3"):
        r = report["streams"][n]
        # two stretches on one running line; the first level is the worse of them
        assert len(r["rounds"]) == 2 and r["frames"] == sum(x["frames"] for x in r["rounds"])
        assert r["capture_to_result_p99_ms"] == max(x["capture_to_result_p99_ms"] for x in r["rounds"])
        assert r["holds"] == all(x["holds"] for x in r["rounds"])
        assert r["backend"].startswith("compiled (openvino") and r["dropped"] >= 0
        assert 0 < r["capture_to_result_p50_ms"] <= r["capture_to_result_p99_ms"]
        assert 2.0 <= r["fps_per_stream_mean"] <= 6.0, r  # 4 frames/s each, counted over 2 s
        assert r["frames"] >= 2 * int(n) * 4, r
        assert r["tracking_processes"] == 1, "the cameras' parts followed in a process of their own"
        assert set(report["beside"][n]) == {"inspector compiled", "floor", "ultralytics predict"}
    decode = report["decode"]
    assert decode["codec"] == "H.264" and decode["frames"] >= 64, decode  # PyAV writes it where OpenCV cannot
    assert decode["ms_per_frame_one_thread"] > 0 and decode["cpu_ms_per_frame"] > 0
    table = format_streams(report)
    assert "largest number of cameras held" in table and "N=3" in table
    assert "2 stretches of 2 s timed on one running line" in table and len(table.splitlines()) >= 12
    ratio = report["beside"]["3"]["inspector compiled"]["p50_ms"] / report["beside"]["3"]["floor"]["p50_ms"]
    assert f"{ratio:.2f}x" in table
    assert bench_frames(320, 240, 1)[0].shape == (240, 320, 3)


def test_without_an_h264_encoder_the_decode_cost_says_which_codec_stood_in(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # PyAV absent: importing it fails
    frames = bench_frames(320, 240, count=4, step=1)
    decode = decode_cost(frames, lambda _line: None)
    if decode["encoder"] == "OpenCV" and decode["codec"] == "H.264":
        pytest.skip("this OpenCV writes H.264 itself")
    assert decode["codec"] == "MPEG-4 Part 2" and decode["frames"] == 64, decode
