"""The one per-frame loop, without a window: frames, pause, stop, and the run's record."""

import gc
import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from inspector.capture.synthetic import SyntheticConveyor
from inspector.errors import ConfigError
from inspector.inference.openvino_network import cpu_computes_bf16
from inspector.line.config import LineConfig
from inspector.line.recipes import Recipe
from inspector.line.station import Station
from inspector.paths import demo_model_path
from inspector.storage.models import Defect, Part, Run, RunEvent
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
    assert [r.frame.index for r in seen] == list(range(25)) and line.frames == 25
    assert line.stats.timed_frames == 25 and line.stats.latency.percentiles("infer")["p50"] > 0
    assert not line.cameras[0].capture.is_alive(), "capture ends with the loop"
    with Session(station.db) as s:
        run = s.get(Run, line.run_id)
        assert run.frames == 25 and run.ended_at is not None and run.backend == "eager"


def test_while_a_line_runs_its_start_up_objects_are_out_of_the_collectors_full_passes(station):
    line = station.build_line(CONFIG)
    frozen = []
    line.run(frames=3, on_result=lambda _result: frozen.append(gc.get_freeze_count()))
    line.close()
    assert min(frozen) > 100_000, "torch and the model are frozen while the line runs"
    assert gc.get_freeze_count() == 0, "and collectable again once it ends"


def test_a_paused_line_lets_frames_go_uninspected_and_stop_ends_it_from_another_thread(station):
    line = station.build_line(CONFIG.with_(source="synthetic:fps=30"))
    line.paused.set()
    runner = threading.Thread(target=line.run)
    runner.start()
    try:
        deadline = threading.Event()
        while line.stats.captured.rate() == 0 and not deadline.wait(0.05):
            pass
        assert line.frames == 0
        line.paused.clear()
        while line.frames < 3 and not deadline.wait(0.05):
            pass
    finally:
        line.stop()
        runner.join(10)
    assert not runner.is_alive() and line.stopped and line.frames >= 3
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
    assert line.defects_logged == logged == count_defects(station.db) > 0
    assert "plate" not in (line.cameras[0].inspector.rules.defect_classes or ()), "a part is never a defect"


def test_the_plant_sees_the_line_starting_running_paused_and_stopped(station):
    line = station.build_line(CONFIG.with_(source="synthetic:fps=30"))
    seen: list[str] = []
    original = station.outputs.set_state
    station.outputs.set_state = lambda state: (seen.append(state), original(state))  # type: ignore[method-assign]
    runner = threading.Thread(target=line.run)
    runner.start()
    deadline = threading.Event()
    try:
        while line.frames < 3 and not deadline.wait(0.05):
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
        bf16 = ["openvino-bf16"] if cpu_computes_bf16() else []  # offered where the CPU computes in it
        assert line.switch.usable_modes() == ["openvino", "default", *bf16, "openvino-int8"]
    finally:
        line.close()


# Several cameras ---------------------------------------------------------------------------------


def _batch_sizes(line):
    """The number of frames in each call of the line's engine, as it runs."""
    sizes, detect_batch = [], line.engine.detect_batch

    def counted(images):
        sizes.append(len(images))
        return detect_batch(images)

    line.engine.detect_batch = counted
    return sizes


@pytest.mark.parametrize("processes", [None, 2], ids=["books-here", "books-in-2-processes"])
def test_each_camera_of_a_line_has_its_own_parts_and_records_and_shares_the_batch(station, processes):
    frames, names = 80, ("top", "side", "bottom")
    config = CONFIG.with_(imgsz=320, seed=21)
    cameras = tuple(f"{name}=synthetic:fps=0,frames={frames}" for name in names)
    line = station.build_line(config.with_(cameras=cameras, tracking_processes=processes))
    assert len(line.book_processes) == (processes or 0)
    sizes = _batch_sizes(line)
    decided = []
    assert line.run(on_result=lambda result: decided.extend(result.decided)) is None
    decided += line.close()
    station.writer.flush()
    assert [c.inspector.frames for c in line.cameras] == [frames] * 3 and sum(sizes) == 3 * frames
    assert max(sizes) == 3 and len(sizes) < 2 * frames, f"frames of the cameras run together: {sizes}"
    with Session(station.db) as s:
        rows = s.execute(select(Part.camera, Part.part, Part.verdict).where(Part.run_id == line.run_id)).all()
        defects = s.execute(select(Defect.camera).where(Defect.run_id == line.run_id)).scalars().all()
        run = s.get(Run, line.run_id)
    for place, name in enumerate(names):
        # each camera is a line of its own (seed 21, 22, 23): it judges what that line alone judges
        alone = _run_alone(station, config.with_(source=f"synthetic:fps=0,frames={frames}", seed=21 + place))
        theirs = [p for p in decided if p.camera == name and p.kind]
        parts = [_judged(p) for p in theirs]
        assert parts == [_judged(p) for p in alone if p.kind]
        # the same pictures, taken where the frames are even when the parts are followed elsewhere
        assert [_pictured(p) for p in theirs] == [_pictured(p) for p in alone if p.kind]
        boxes = [[d.pictured for d in p.defects] for p in alone if p.kind]
        assert [[d.pictured for d in p.defects] for p in theirs] == [  # a batch moves boxes by bits
            [pytest.approx(box, abs=0.01) for box in part] for part in boxes
        ]
        assert len(parts) >= 3 and any(v == "NG" for _, _, v, _ in parts), name
        assert sorted((n, v) for c, n, v in rows if c == name) == sorted((n, v) for n, _, v, _ in parts)
    assert sorted(set(defects)) == sorted(names) and len(defects) == line.defects_logged
    assert run.frames == 3 * frames and run.source.startswith("3 cameras: top synthetic")
    assert list(run.settings["cameras"]) == list(names)


def test_a_tracking_process_that_dies_ends_the_run_with_why_and_the_run_is_closed(station):
    config = CONFIG.with_(cameras=("synthetic:fps=0", "synthetic:fps=0"), tracking_processes=1)
    line = station.build_line(config)
    (process,) = line.book_processes

    def kill_at_10(result):
        if line.frames == 10:
            process._process.kill()

    error = line.run(frames=200, on_result=kill_at_10)  # said, as a source that fails is
    assert error == line.error == "the process following the parts of cam1, cam2 ended (exit status -9)"
    assert line.close() == (), "what it followed is gone with it"
    assert line.state() == "stopped"
    station.writer.flush()
    with Session(station.db) as s:
        run = s.get(Run, line.run_id)
        assert run.ended_at is not None and 10 <= run.frames < 400
    # one that never started: the run ends before it opens a camera
    line = station.build_line(config)
    line.book_processes[0]._process.kill()
    assert line.run(frames=5) == line.error and "ended (exit status -9)" in line.error
    assert line.frames == 0 and all(c.capture is not None and not c.capture.is_alive() for c in line.cameras)
    line.close()


def _judged(part):
    return part.part, part.kind, part.verdict, part.defect_classes


def _pictured(part):
    """A part's picture: its crop of its best frame, and where the crop lies."""
    image = None if part.image is None else (part.image.shape, hash(part.image.tobytes()))
    return part.best_frame, image, part.image_origin


def _run_alone(station, config):
    """The parts a one-camera line of ``config`` decides."""
    line = station.build_line(config)
    decided = []
    line.run(on_result=lambda result: decided.extend(result.decided))
    return decided + list(line.close())


def test_a_camera_that_ends_or_lags_does_not_hold_back_the_others(station):
    line = station.build_line(CONFIG.with_(cameras=("synthetic:fps=0", "synthetic:fps=0,frames=5")))
    line.run(frames=30)
    line.close()
    assert [c.inspector.frames for c in line.cameras] == [30, 5]
    # a live camera at 2 frames/s beside one that renders as fast as it can
    line = station.build_line(CONFIG.with_(cameras=("synthetic:fps=0", "synthetic:fps=2")))
    fast, slow = line.cameras

    def stop_at_60(_result):
        if fast.inspector.frames >= 60:
            line.stop()

    started = time.perf_counter()
    line.run(on_result=stop_at_60)
    elapsed = time.perf_counter() - started
    line.close()
    assert fast.inspector.frames >= 60 and slow.inspector.frames <= 2 * elapsed + 2
    assert elapsed < 15, f"60 frames of the fast camera took {elapsed:.1f} s: the slow one held them"


def _detections(results, camera):
    return {r.frame.index: r.detections for r in results if r.camera == camera}


def _same(a, b, box_px: float, conf: float) -> bool:
    return len(a) == len(b) and all(
        x.class_name == y.class_name
        and abs(x.confidence - y.confidence) <= conf
        and max(abs(u - v) for u, v in zip(x.box, y.box, strict=True)) <= box_px
        for x, y in zip(a, b, strict=True)
    )


def _alone(station, config, seed, frames):
    line = station.build_line(config.with_(cameras=(), source="synthetic:fps=0", seed=seed))
    seen = []
    line.run(frames=frames, on_result=seen.append)
    line.close()
    return _detections(seen, "cam1")


@pytest.mark.parametrize("backend", ["eager", pytest.param("compiled", marks=pytest.mark.slow)])
def test_cameras_inspected_together_find_what_each_finds_alone(station, backend):
    frames = 12
    config = CONFIG.with_(imgsz=320, cameras=("synthetic:fps=0", "synthetic:fps=0"), seed=5)
    line = station.build_line(config.with_(backend=backend), wait_for_compile=True)
    seen = []
    line.run(frames=frames, on_result=seen.append)
    line.close()
    if backend == "compiled":
        assert {r.backend for r in seen} == {"compiled (openvino f32)"} and line.switch.compiled.batch == 2
    for place, camera in enumerate(("cam1", "cam2")):
        together, alone = _detections(seen, camera), _alone(station, config, 5 + place, frames)
        assert sorted(together) == sorted(alone) == list(range(frames))
        assert sum(map(len, alone.values())) > 0
        box_px, conf = (0.05, 1e-3) if backend == "eager" else (2.0, 0.02)
        assert all(_same(together[i], alone[i], box_px, conf) for i in range(frames)), camera


def test_several_cameras_are_judged_one_batch_behind_in_order_and_a_judging_error_ends_the_run(station):
    line = station.build_line(CONFIG.with_(cameras=("synthetic:fps=0", "synthetic:fps=0")))
    threads, seen = set(), []

    def judged(result):
        threads.add(threading.current_thread().name)
        seen.append((result.camera, result.frame.index))
        if len(seen) == 21:
            raise RuntimeError("the log is gone")

    with pytest.raises(RuntimeError, match="the log is gone"):
        line.run(frames=60, on_result=judged)
    line.close()
    assert threads == {"judging"}, "behind the loop, in a thread of its own"
    for camera in ("cam1", "cam2"):
        indices = [i for c, i in seen if c == camera]
        # both judged (the first batches may hold one camera's frame alone, while the other opens)
        assert indices == sorted(set(indices)) and len(indices) >= 5, "each camera's frames in order"
    assert len(seen) == 21, "nothing is judged after the failure"
    assert not any(c.capture.is_alive() for c in line.cameras)
    # one camera is judged in the loop's own thread: no hand-over on its latency
    line = station.build_line(CONFIG)
    threads.clear()
    line.run(frames=3, on_result=lambda _r: threads.add(threading.current_thread().name))
    line.close()
    assert threads == {threading.current_thread().name}


@pytest.mark.parametrize("cameras", [("synthetic:fps=15",), ("synthetic:fps=15", "synthetic:fps=15")])
def test_a_triggered_line_takes_a_new_recipe_between_triggers(station, cameras):
    line = station.build_line(CONFIG.with_(cameras=cameras, trigger=True))
    runner = threading.Thread(target=line.run)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while line.stats.captured.rate() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert line.frames == 0, "no trigger, no inspection"
        line.choose_recipe(Recipe(7, "free running", (("trigger", False),)))
        while line.frames < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        line.stop()
        runner.join(30)
    line.close()
    assert line.frames >= 3 and line.recipe is not None and line.recipe.number == 7
    assert not line.config.trigger


def test_a_recipe_that_lists_cameras_judges_only_theirs_and_the_next_one_judges_all(station):
    cameras = ("top=synthetic:fps=0,seed=1", "side=synthetic:fps=0,seed=2")
    line = station.build_line(CONFIG.with_(cameras=cameras))
    with pytest.raises(ConfigError, match="the line has no camera end"):
        line.choose_recipe(Recipe(9, "end only", (("judged_cameras", ("end",)),)))
    line.choose_recipe(Recipe(3, "top only", (("judged_cameras", ("top",)),)))
    judged = []

    def choose_all_after_20(result):
        judged.append(result.camera)
        if len(judged) == 20:
            line.choose_recipe(Recipe(4, "all cameras", ()))

    line.run(frames=40, on_result=choose_all_after_20)  # ends: a camera left out counts as done
    line.close()
    top, side = line.cameras
    assert judged[:20] == ["top"] * 20, "while top only is in force, side's frames are let go"
    assert side.inspector.frames > 0 and "side" in judged[20:], "the next recipe judges every camera"
    assert top.inspector.frames == 40
