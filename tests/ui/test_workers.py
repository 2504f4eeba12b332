"""The station's worker drives the same line as the headless run: same frames in, same rows out."""

from sqlalchemy import create_engine, text

from inspector.headless import run_headless
from inspector.line.config import LineConfig
from inspector.line.station import Station
from inspector.paths import demo_model_path
from inspector.ui.workers import LineBuilder, LineThread

FRAMES = 240
CONFIG = LineConfig(
    source=f"synthetic:fps=0,frames={FRAMES}", weights=str(demo_model_path()), device="cpu", imgsz=160, seed=3
)


def _rows(path, sql):
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        rows = conn.execute(text(sql)).all()
    engine.dispose()
    return [tuple(r) for r in rows]


DEFECTS = "SELECT frame_index, class_name, confidence, x1, y1, x2, y2, frames FROM defects ORDER BY id"
PARTS = "SELECT part, kind, verdict, defect_classes, first_frame, last_frame, x1, y2 FROM parts ORDER BY id"


def test_the_station_s_worker_and_the_headless_run_log_the_same_defects(qtbot, tmp_path):
    summary = run_headless(CONFIG, tmp_path / "headless.sqlite", say=lambda m: None)
    assert summary["frames"] == FRAMES

    station = Station(tmp_path / "station.sqlite")
    builder = LineBuilder(station, CONFIG, latency_samples=600)
    with qtbot.waitSignal(builder.built, timeout=60_000) as built:
        builder.start()
    builder.wait()
    line = built.args[0]
    thread = LineThread(line)
    with qtbot.waitSignal(thread.ended, timeout=120_000) as ended:
        thread.start()
    thread.wait()
    line.close()
    station.close()

    assert ended.args == [""], "the source ran out, no error"
    assert line.frames == FRAMES
    for sql in (DEFECTS, PARTS):
        headless, windowed = _rows(tmp_path / "headless.sqlite", sql), _rows(tmp_path / "station.sqlite", sql)
        assert len(headless) >= 5 and windowed == headless


def test_a_stopped_worker_says_nothing_and_a_failing_build_says_why(qtbot, tmp_path):
    station = Station(tmp_path / "station.sqlite")
    builder = LineBuilder(station, CONFIG.with_(source="/nowhere/clip.mp4"), latency_samples=600)
    with qtbot.waitSignal(builder.failed, timeout=60_000) as failed:
        builder.start()
    builder.wait()
    assert "not found" in failed.args[0]

    line = station.build_line(CONFIG.with_(source="synthetic:fps=30"))
    thread = LineThread(line)
    ended = []
    thread.ended.connect(ended.append)
    thread.start()
    qtbot.waitUntil(lambda: line.frames >= 3, timeout=30_000)
    thread.stop()
    assert thread.wait(10_000)
    line.close()
    station.close()
    qtbot.wait(50)
    assert ended == [], "a stop is no news"
