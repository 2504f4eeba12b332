"""The one per-frame loop, without a window: frames, pause, stop, and the run's record."""

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from inspector.capture.synthetic import SyntheticConveyor
from inspector.line.config import LineConfig
from inspector.line.station import Station
from inspector.paths import demo_model_path
from inspector.storage.models import Run, RunEvent
from inspector.storage.queries import count_defects

CONFIG = LineConfig(source="synthetic:fps=0", weights=str(demo_model_path()), device="cpu", imgsz=160)


@pytest.fixture
def station(db_path):
    s = Station(db_path)
    yield s
    s.close()


def test_a_line_inspects_the_frames_asked_and_closes_its_run(station):
    line = station.build_line(CONFIG)
    seen = []
    assert line.run(frames=25, on_result=seen.append) is None
    line.close()
    station.writer.flush()
    assert [r.frame.index for r in seen] == list(range(25)) and line.inspector.frames == 25
    assert line.stats.timed_frames == 25 and line.stats.latency.percentiles("infer")["p50"] > 0
    assert not line.capture.is_alive(), "capture ends with the loop"
    with Session(station.db) as s:
        run = s.get(Run, line.run_id)
        assert run.frames == 25 and run.ended_at is not None and run.backend == "eager"


def test_a_paused_line_lets_frames_go_uninspected_and_stop_ends_it_from_another_thread(station):
    line = station.build_line(CONFIG.with_(source="synthetic:fps=30"))
    line.paused.set()
    runner = threading.Thread(target=line.run)
    runner.start()
    try:
        deadline = threading.Event()
        while line.stats.captured.rate() == 0 and not deadline.wait(0.05):
            pass
        assert line.inspector.frames == 0
        line.paused.clear()
        while line.inspector.frames < 3 and not deadline.wait(0.05):
            pass
    finally:
        line.stop()
        runner.join(10)
    assert not runner.is_alive() and line.stopped and line.inspector.frames >= 3
    line.close()


@pytest.mark.slow
def test_the_run_records_which_backend_inspected_which_frames(station):
    line = station.build_line(CONFIG.with_(backend="compiled", mode="default"), wait_for_compile=True)

    def flip_after_frame_5(result):
        if result.frame.index == 5:
            line.switch.want_eager()  # as the operator would, mid-run: the swap waits for the next frame

    line.run(frames=9, on_result=flip_after_frame_5)
    line.close()
    station.writer.flush()
    with Session(station.db) as s:
        events = s.scalars(select(RunEvent).where(RunEvent.run_id == line.run_id).order_by(RunEvent.id)).all()
        run = s.get(Run, line.run_id)
    assert [(e.kind, e.detail, e.frame_index) for e in events] == [
        ("backend", "compiled (default)", 0),
        ("backend", "eager", 6),
    ]
    assert run.backend == "compiled (default)" and run.frames == 9


def test_the_demo_line_is_judged_part_by_part(station):
    frames = 150
    line = station.build_line(CONFIG.with_(imgsz=416, source=f"synthetic:fps=0,frames={frames}", seed=21))
    decided = []
    line.run(on_result=lambda result: decided.extend(result.decided))
    decided += line.close()
    station.writer.flush()
    parts = [p for p in decided if p.kind]
    spans = SyntheticConveyor(seed=21, fps=0).part_spans(frames)
    assert line.part_classes == {"plate", "washer"}
    assert len(parts) == len(spans) >= 4, "every part that crossed the view, once"
    assert sorted(p.ng for p in parts) == sorted(bool(s.defects) for s in spans)
    logged = sum(len(p.defects) for p in parts)
    assert line.inspector.defects_logged == logged == count_defects(station.db) > 0
    assert "plate" not in (line.inspector.rules.defect_classes or ()), "a part is never a defect"


def test_the_plant_sees_the_line_starting_running_paused_and_stopped(station):
    line = station.build_line(CONFIG.with_(source="synthetic:fps=30"))
    seen: list[str] = []
    original = station.outputs.set_state
    station.outputs.set_state = lambda state: (seen.append(state), original(state))  # type: ignore[method-assign]
    runner = threading.Thread(target=line.run)
    runner.start()
    deadline = threading.Event()
    try:
        while line.inspector.frames < 3 and not deadline.wait(0.05):
            pass
        assert line.state() == station.outputs.state == "running"
        line.paused.set()
        while station.outputs.state != "paused" and not deadline.wait(0.05):
            pass
        line.paused.clear()
        while station.outputs.state != "running" and not deadline.wait(0.05):
            pass
    finally:
        line.stop()
        runner.join(10)
    line.close()
    assert station.outputs.state == "stopped"
    changes = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert changes == ["starting", "running", "paused", "running", "stopped"]


@pytest.mark.parametrize(
    ("mode", "runs", "ahead"),
    [(None, "openvino", True), ("reduce-overhead", "openvino", True), ("default", "default", False)],
)
def test_a_cpu_line_runs_its_own_compiled_mode_and_readies_openvino_ahead(station, mode, runs, ahead):
    """A window's remembered GPU mode on a CPU line becomes the CPU's default; OpenVINO, cheap to load
    from the cache, gets its worker with the line, as a GPU line does; Inductor on a CPU does not."""
    line = station.build_line(CONFIG.with_(mode=mode))
    try:
        assert line.switch.mode == runs and line.switch.compiles_ahead is ahead
        assert line.switch.usable_modes() == ["openvino", "default", "openvino-int8"]
    finally:
        line.close()
