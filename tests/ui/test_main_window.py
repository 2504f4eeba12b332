"""The real window, driven offscreen: real threads, the shipped model, a real SQLite file."""

import pytest
import torch
from PySide6.QtCore import QThread
from sqlalchemy import event

from inspector.inference.backends import CompiledBackend
from inspector.inference.model import load_detector
from inspector.paths import demo_model_path
from inspector.storage.queries import count_defects
from inspector.ui.main_window import READY_AHEAD, MainWindow
from inspector.ui.station import Line, LineConfig


def _frames_painted(qtbot, win, n, timeout=30_000):
    start = win.view.shown
    qtbot.waitUntil(lambda: win.view.shown >= start + n, timeout=timeout)


def test_demo_line_starts_paints_frames_and_logs_defects(qtbot, window, db_path):
    window.start_line()
    _frames_painted(qtbot, window, 10)
    assert window.active_backend.text() == "eager"
    qtbot.waitUntil(lambda: window.line.inspector.defects_logged > 0, timeout=20_000)
    qtbot.waitUntil(lambda: window.fps_labels["inference"].text() not in ("-", "0.0"), timeout=5_000)
    window.stop_line()
    window.writer.flush()
    assert count_defects(window.db) > 0
    assert window.start_button.text() == "Start"
    window.tabs.setCurrentWidget(window.history)  # the history shows the run just made
    assert window.history.model.rowCount() == count_defects(window.db)
    assert window.history.run_combo.count() == 2  # "all" and this run


def test_stop_and_start_again_makes_a_new_run(qtbot, window):
    window.start_line()
    _frames_painted(qtbot, window, 3)
    first = window.line.run_id
    capture, inspection = window.line.capture, window.line.inspection
    window.stop_line()
    assert not capture.isRunning() and not inspection.isRunning()
    window.start_line()
    _frames_painted(qtbot, window, 3)
    assert window.line.run_id == first + 1


@pytest.mark.slow
def test_switch_to_compiled_while_frames_keep_arriving_and_back(qtbot, window):
    window.start_line()
    _frames_painted(qtbot, window, 3)
    stages = []
    window.mode_combo.setCurrentText("default")
    window.compiled_radio.setChecked(True)
    window.compile_thread.progress.connect(lambda p: stages.append(p.stage))
    painted_before = window.view.shown
    qtbot.waitUntil(lambda: window.active_backend.text() == "compiled (default)", timeout=600_000)
    assert window.view.shown > painted_before + 3, "the view kept running during the compile"
    assert "compiling kernels" in stages or stages[-1:] == ["ready"]
    assert window.compile_bar.value() == 100
    window.eager_radio.setChecked(True)
    qtbot.waitUntil(lambda: window.active_backend.text() == "eager", timeout=10_000)
    _frames_painted(qtbot, window, 3)


@pytest.mark.slow
def test_a_compile_the_cache_holds_is_done_ahead_and_the_switch_is_instant(qtbot, window, monkeypatch):
    # what a GPU line does (on a CPU the worker would take cores from the line)
    monkeypatch.setattr(Line, "compiles_ahead", property(lambda self: True))
    model = load_detector(demo_model_path(), torch.device("cpu"))
    warm = CompiledBackend(model, 160, "default")
    try:
        warm.prepare((720, 1280))  # the cache now holds this compile, as after an earlier switch
    finally:
        warm.close()
    window.mode_combo.setCurrentText("default")
    window.start_line()
    qtbot.waitUntil(lambda: window.compile_bar.format().startswith("ahead: "), timeout=60_000)
    qtbot.waitUntil(lambda: window.compile_bar.format() == READY_AHEAD, timeout=300_000)
    assert window.eager_radio.isChecked() and window.active_backend.text() == "eager"
    assert window.compile_stage.text().startswith("compiled ahead, from the on-disk cache, in ")
    window.compiled_radio.setChecked(True)
    assert window.compile_thread is None, "nothing left to compile at the switch"
    assert window.compile_bar.format() == "ready %p%"
    qtbot.waitUntil(lambda: window.active_backend.text() == "compiled (default)", timeout=5_000)
    _frames_painted(qtbot, window, 3)
    # a line stopped while its compile runs ahead: the compile ends with it, and nobody cancelled it
    window.stop_line()
    window.start_line()
    qtbot.waitUntil(lambda: window.compile_bar.format().startswith("ahead: "), timeout=60_000)
    thread = window.compile_thread
    window.stop_line()
    assert window.compile_bar.format() == "idle" and window.compile_stage.text() == ""
    assert thread.wait(10_000), "the compile thread ends with its worker"


@pytest.mark.slow
def test_a_failing_compile_shows_why_and_the_line_stays_on_eager(qtbot, window, monkeypatch, tmp_path):
    # The compile worker inherits this: no working C++ compiler and a cold cache.
    monkeypatch.setenv("CXX", "/bin/false")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    window.start_line()
    _frames_painted(qtbot, window, 3)
    window.mode_combo.setCurrentText("default")
    window.compiled_radio.setChecked(True)
    painted_before = window.view.shown
    qtbot.waitUntil(window.banner.isVisible, timeout=300_000)
    assert "torch.compile failed" in window.banner.text() and "staying on eager" in window.banner.text()
    assert window.eager_radio.isChecked() and window.active_backend.text() == "eager"
    assert window.compile_bar.format() == "failed" and window.mode_combo.isEnabled()
    assert window.view.shown > painted_before, "the view kept running while the compile failed"
    _frames_painted(qtbot, window, 3)


@pytest.mark.slow
def test_cancelling_a_compile_keeps_eager_and_says_so(qtbot, window):
    window.start_line()
    _frames_painted(qtbot, window, 3)
    window.mode_combo.setCurrentText("default")
    window.compiled_radio.setChecked(True)
    assert window.cancel_compile.isEnabled()
    qtbot.waitUntil(lambda: window.compile_bar.format().startswith("starting worker"), timeout=30_000)
    window.cancel_compile.click()
    assert window.compile_bar.format() == "cancelled" and window.eager_radio.isChecked()
    assert not window.cancel_compile.isEnabled() and window.active_backend.text() == "eager"
    _frames_painted(qtbot, window, 3)


def test_a_full_disk_shows_a_banner_keeps_the_defects_and_recovers(qtbot, window):
    window.start_line()
    qtbot.waitUntil(lambda: window.line is not None and window.writer.committed > 0, timeout=30_000)
    limit = {"pages": None}

    @event.listens_for(window.db, "begin")
    def _limit(conn):  # SQLite says "database or disk is full" once it needs a page beyond the limit
        if limit["pages"] is not None:
            conn.exec_driver_sql(f"PRAGMA max_page_count = {limit['pages']}")

    with window.db.connect() as conn:
        limit["pages"] = conn.exec_driver_sql("PRAGMA page_count").scalar()
    qtbot.waitUntil(window.banner.isVisible, timeout=60_000)
    assert "full" in window.banner.text() and "kept in memory" in window.banner.text()
    assert "#D62728" in window.banner.styleSheet()
    _frames_painted(qtbot, window, 5)  # the line keeps running
    assert window.writer.pending > 0

    limit["pages"] = 1_000_000  # the operator freed space
    qtbot.waitUntil(lambda: "writing again" in window.banner.text(), timeout=30_000)
    assert "#2CA02C" in window.banner.styleSheet()
    inspector = window.line.inspector
    window.stop_line()
    window.writer.flush()
    assert window.writer.pending == 0
    assert count_defects(window.db) == inspector.defects_logged  # nothing was lost


def test_a_bad_source_shows_a_banner_and_the_window_stays_usable(qtbot, db_path):
    win = MainWindow(
        LineConfig(source="/nonexistent/clip.mp4", weights=str(demo_model_path()), device="cpu"), db_path
    )
    qtbot.addWidget(win)
    win.show()
    win.start_line()
    qtbot.waitUntil(win.banner.isVisible, timeout=20_000)
    assert "not found" in win.banner.text()
    assert win.line is None and win.start_button.text() == "Start"
    win.close()


def test_threads_are_stopped_at_close(qtbot, window):
    window.start_line()
    _frames_painted(qtbot, window, 2)
    threads: list[QThread] = [window.line.capture, window.line.inspection]
    window.close()
    assert all(not t.isRunning() for t in threads)
    assert not window.writer._thread.is_alive()


def test_changing_the_source_restarts_the_line_on_it(qtbot, window, synthetic_video):
    window.start_line()
    _frames_painted(qtbot, window, 2)
    first_run = window.line.run_id
    window.source_edit.setText(str(synthetic_video))
    window.source_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: window.line is not None and window.line.run_id == first_run + 1, timeout=20_000)
    assert window.line.source.name == f"video {synthetic_video.name}" and window.line.run_id == first_run + 1
    _frames_painted(qtbot, window, 2)
    # a video ends: the line stops by itself and says so
    qtbot.waitUntil(lambda: window.line is None, timeout=30_000)
    assert window.start_button.text() == "Start" and not window.banner.isVisible()
