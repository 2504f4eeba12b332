"""The real window, driven offscreen: real threads, the shipped model, a real SQLite file."""

from datetime import datetime

import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from sqlalchemy import event

from inspector.inference.backends import CompiledBackend
from inspector.inference.model import load_detector
from inspector.line.config import LineConfig
from inspector.line.recipes import Recipe, load_recipes
from inspector.paths import demo_model_path
from inspector.shifts import Shifts, naive_utc
from inspector.storage.part_queries import PartFilter, count_parts
from inspector.storage.queries import count_defects
from inspector.ui.live_view import LEFT_OUT
from inspector.ui.main_window import MainWindow
from inspector.ui.panels.inference_panel import READY_AHEAD


def _frames_painted(qtbot, win, n, timeout=30_000):
    start = win.view.shown
    qtbot.waitUntil(lambda: win.view.shown >= start + n, timeout=timeout)


def test_demo_line_starts_paints_frames_and_logs_defects(qtbot, window, db_path):
    window.start_line()
    _frames_painted(qtbot, window, 10)
    assert window.inference.active_backend.text() == "eager"
    sha = window.line.model.sha256
    assert f"sha256 {sha[:12]}" in window.line_panel.model_label.text()  # which file runs
    assert sha in window.line_panel.model_label.toolTip()
    qtbot.waitUntil(lambda: window.line.defects_logged > 0, timeout=20_000)
    qtbot.waitUntil(lambda: window.gauges.fps_labels["inference"].text() not in ("-", "0.0"), timeout=5_000)
    line = window.line
    window.stop_line()
    window.station.writer.flush()
    assert count_defects(window.station.db) > 0
    assert window.line_panel.start_button.text() == "Start"
    window.tabs.setCurrentWidget(window.history)  # the history shows the run just made: its parts
    assert window.history.showing_parts
    assert window.history.model.rowCount() == count_parts(window.station.db) == line.stats.parts
    assert window.history.model.rowCount() > 0
    assert window.history.run_combo.count() == 2  # "all" and this run


def test_stop_and_start_again_makes_a_new_run(qtbot, window):
    window.start_line()
    _frames_painted(qtbot, window, 3)
    first = window.line.run_id
    capture, inspection = window.line.cameras[0].capture, window.inspection_thread
    window.stop_line()
    assert not capture.is_alive() and not inspection.isRunning()
    window.start_line()
    _frames_painted(qtbot, window, 3)
    assert window.line.run_id == first + 1


@pytest.mark.slow
def test_switch_to_compiled_while_frames_keep_arriving_and_back(qtbot, window):
    window.inference.mode_combo.setCurrentText("default")  # Inductor: nothing compiled ahead on a CPU
    window.start_line()
    _frames_painted(qtbot, window, 3)
    stages = []
    window.inference.compiled_radio.setChecked(True)
    window.line.switch.subscribe(lambda e: e.progress is None or stages.append(e.progress.stage))
    painted_before = window.view.shown
    qtbot.waitUntil(lambda: window.inference.active_backend.text() == "compiled (default)", timeout=600_000)
    assert window.view.shown > painted_before + 3, "the view kept running during the compile"
    assert "compiling kernels" in stages or stages[-1:] == ["ready"]
    assert window.inference.compile_bar.value() == 100
    window.inference.eager_radio.setChecked(True)
    qtbot.waitUntil(lambda: window.inference.active_backend.text() == "eager", timeout=10_000)
    _frames_painted(qtbot, window, 3)


def test_on_a_cpu_the_compiled_switch_runs_openvino_while_the_view_keeps_running(qtbot, window):
    window.start_line()
    _frames_painted(qtbot, window, 3)
    panel = window.inference
    assert panel.mode_combo.currentText() == "openvino"  # the CPU's own compiled mode, unasked
    items = panel.mode_combo.model()
    greyed = {panel.mode_combo.itemText(i) for i in range(items.rowCount()) if not items.item(i).isEnabled()}
    assert greyed == {"reduce-overhead", "max-autotune", "cuda-graph"}  # GPU modes, shown greyed
    painted_before = window.view.shown
    panel.compiled_radio.setChecked(True)
    qtbot.waitUntil(lambda: panel.active_backend.text().startswith("compiled (openvino "), timeout=120_000)
    assert window.view.shown > painted_before, "the view kept running during the compile"
    assert panel.compile_bar.value() == 100 and "OpenVINO" in panel.compile_stage.text()
    _frames_painted(qtbot, window, 5)
    assert window.line.engine.backend.label == panel.active_backend.text()


@pytest.mark.slow
def test_a_compile_the_cache_holds_is_done_ahead_and_the_switch_is_instant(qtbot, window):
    window.config = window.config.with_(compile_ahead=True)  # what a GPU line does
    model = load_detector(demo_model_path(), torch.device("cpu"))
    warm = CompiledBackend(model, 160, "default")
    try:
        warm.prepare((720, 1280))  # the cache now holds this compile, as after an earlier switch
    finally:
        warm.close()
    window.inference.mode_combo.setCurrentText("default")
    window.start_line()
    qtbot.waitUntil(lambda: window.inference.compile_bar.format().startswith("ahead: "), timeout=60_000)
    qtbot.waitUntil(lambda: window.inference.compile_bar.format() == READY_AHEAD, timeout=300_000)
    assert window.inference.eager_radio.isChecked() and window.inference.active_backend.text() == "eager"
    assert window.inference.compile_stage.text().startswith("compiled ahead, from the on-disk cache, in ")
    window.inference.compiled_radio.setChecked(True)
    assert not window.line.switch.compiling, "nothing left to compile at the switch"
    assert window.inference.compile_bar.format() == "ready %p%"
    qtbot.waitUntil(lambda: window.inference.active_backend.text() == "compiled (default)", timeout=5_000)
    _frames_painted(qtbot, window, 3)
    # a line stopped while its compile runs ahead: the compile ends with it, and nobody cancelled it
    window.inference.eager_radio.setChecked(True)  # a restarted line keeps the operator's choice
    window.stop_line()
    window.start_line()
    qtbot.waitUntil(lambda: window.inference.compile_bar.format().startswith("ahead: "), timeout=60_000)
    thread = window.line.switch._compile
    window.stop_line()
    assert window.inference.compile_bar.format() == "idle" and window.inference.compile_stage.text() == ""
    thread.join(10)
    assert not thread.is_alive(), "the compile thread ends with its worker"


@pytest.mark.slow
def test_a_failing_compile_shows_why_and_the_line_stays_on_eager(qtbot, window, monkeypatch, tmp_path):
    # The compile worker inherits this: no working C++ compiler and a cold cache.
    monkeypatch.setenv("CXX", "/bin/false")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    window.inference.mode_combo.setCurrentText("default")
    window.start_line()
    _frames_painted(qtbot, window, 3)
    window.inference.compiled_radio.setChecked(True)
    painted_before = window.view.shown
    qtbot.waitUntil(window.banner.isVisible, timeout=300_000)
    assert "torch.compile failed" in window.banner.text() and "staying on eager" in window.banner.text()
    assert window.inference.eager_radio.isChecked() and window.inference.active_backend.text() == "eager"
    assert window.inference.compile_bar.format() == "failed" and window.inference.mode_combo.isEnabled()
    assert window.view.shown > painted_before, "the view kept running while the compile failed"
    _frames_painted(qtbot, window, 3)


@pytest.mark.slow
def test_cancelling_a_compile_keeps_eager_and_says_so(qtbot, window):
    panel = window.inference
    panel.mode_combo.setCurrentText("default")
    window.start_line()
    _frames_painted(qtbot, window, 3)
    panel.compiled_radio.setChecked(True)
    assert panel.cancel_compile.isEnabled()
    qtbot.waitUntil(lambda: panel.compile_bar.format().startswith("starting worker"), timeout=30_000)
    panel.cancel_compile.click()
    assert panel.compile_bar.format() == "cancelled" and panel.eager_radio.isChecked()
    assert not panel.cancel_compile.isEnabled() and panel.active_backend.text() == "eager"
    _frames_painted(qtbot, window, 3)


def test_a_full_disk_shows_a_banner_keeps_the_defects_and_recovers(qtbot, window):
    window.start_line()
    qtbot.waitUntil(lambda: window.line is not None and window.station.writer.committed > 0, timeout=30_000)
    limit = {"pages": None}

    @event.listens_for(window.station.db, "begin")
    def _limit(conn):  # SQLite says "database or disk is full" once it needs a page beyond the limit
        if limit["pages"] is not None:
            conn.exec_driver_sql(f"PRAGMA max_page_count = {limit['pages']}")

    with window.station.db.connect() as conn:
        limit["pages"] = conn.exec_driver_sql("PRAGMA page_count").scalar()
    qtbot.waitUntil(window.banner.isVisible, timeout=60_000)
    assert "full" in window.banner.text() and "kept in memory" in window.banner.text()
    assert "#D62728" in window.banner.styleSheet()
    _frames_painted(qtbot, window, 5)  # the line keeps running
    assert window.station.writer.pending > 0

    limit["pages"] = 1_000_000  # the operator freed space
    qtbot.waitUntil(lambda: "writing again" in window.banner.text(), timeout=30_000)
    assert "#2CA02C" in window.banner.styleSheet()
    inspector = window.line.cameras[0].inspector
    window.stop_line()
    window.station.writer.flush()
    assert window.station.writer.pending == 0
    assert count_defects(window.station.db) == inspector.defects_logged  # nothing was lost


def test_a_model_that_will_not_load_leaves_the_last_good_one_running_and_says_so(qtbot, window, tmp_path):
    window.start_line()
    _frames_painted(qtbot, window, 3)
    bad = tmp_path / "half.pt"
    bad.write_bytes(demo_model_path().read_bytes()[:4096])
    window.line_panel._change(weights=str(bad))  # as the Open… dialog hands it over
    qtbot.waitUntil(lambda: window.banner.isVisible() and "staying on" in window.banner.text(), timeout=60000)
    text = window.banner.text()
    assert "half.pt" in text and "staying on inspector-demo.pt" in text
    assert text.count("half.pt") == 1 and "\ufffd" not in text  # the path once, no undrawable glyph
    qtbot.waitUntil(lambda: window.line is not None, timeout=60_000)
    _frames_painted(qtbot, window, 3)  # the demo model inspects again
    assert window.config.weights == str(demo_model_path()) and window.line.model.name == "inspector-demo.pt"
    assert window.banner.isVisible(), "the reason stays on screen after the good model is back"
    QTest.mouseClick(window.banner, Qt.MouseButton.LeftButton)
    assert not window.banner.isVisible()  # read, and dismissed


def test_a_bad_source_shows_a_banner_and_the_window_stays_usable(qtbot, db_path):
    win = MainWindow(
        LineConfig(source="/nonexistent/clip.mp4", weights=str(demo_model_path()), device="cpu"), db_path
    )
    qtbot.addWidget(win)
    win.show()
    win.start_line()
    qtbot.waitUntil(win.banner.isVisible, timeout=20_000)
    assert "not found" in win.banner.text()
    assert win.line is None and win.line_panel.start_button.text() == "Start"
    win.close()


def test_threads_are_stopped_at_close(qtbot, window):
    window.start_line()
    _frames_painted(qtbot, window, 2)
    capture, inspection = window.line.cameras[0].capture, window.inspection_thread
    window.close()
    assert not capture.is_alive() and not inspection.isRunning()
    assert not window.station.writer._thread.is_alive()


def test_changing_the_source_restarts_the_line_on_it(qtbot, window, synthetic_video):
    window.start_line()
    _frames_painted(qtbot, window, 2)
    first_run = window.line.run_id
    window.line_panel.source_edit.setText(str(synthetic_video))
    window.line_panel.source_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: window.line is not None and window.line.run_id == first_run + 1, timeout=20_000)
    assert window.line.source_name == f"video {synthetic_video.name}" and window.line.run_id == first_run + 1
    _frames_painted(qtbot, window, 2)
    # a video ends: the line stops by itself and says so
    qtbot.waitUntil(lambda: window.line is None, timeout=30_000)
    assert window.line_panel.start_button.text() == "Start" and not window.banner.isVisible()


def test_parts_get_numbers_and_verdicts_and_the_run_panel_counts_them(qtbot, db_path):
    config = LineConfig(source="synthetic:fps=0", weights=str(demo_model_path()), device="cpu", imgsz=416)
    midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    win = MainWindow(config, db_path, Shifts.parse("00:00"))  # one shift a day: this run is in it
    qtbot.addWidget(win)
    win.show()
    win.start_line()
    qtbot.waitUntil(lambda: win.line is not None and win.line.stats.parts >= 2, timeout=120_000)
    assert win.view.part_classes == {"plate", "washer"}
    offered = [win.rules.class_list.item(i).text() for i in range(win.rules.class_list.count())]
    assert offered == ["scratch", "dent", "stain", "missing_hole"], "parts are not offered as defects"
    _, result = win.line.cameras[0].latest.get()
    assert result.parts and all(p.part > 0 for p in result.parts)
    line = win.line
    win.stop_line()
    win.counts.refresh(line)  # as the gauges' timer does, now on numbers that no longer move
    stats, text = line.stats, win.counts.counts_label.text()
    assert f"parts <b>{stats.parts}</b>" in text and f"OK <b>{stats.parts_ok}</b>" in text
    assert f"NG <b>{stats.parts_ng}</b>" in text
    assert f"yield <b>{stats.parts_ok / stats.parts:.1%}</b>" in text
    assert stats.last_part is not None and stats.last_part.kind in ("plate", "washer")
    # the rolling yield's curve ends at this run's last part and its yield over the last parts
    xs, ys = win.counts.yield_curve.getData()
    assert xs[-1] == stats.parts and ys[-1] == pytest.approx(stats.rolling_yield())
    # the shift's counts: this run's as the line counts them (the log may lag), and the log's others
    shift = win.counts.shift_label.text()
    assert f"since {midnight:%a} 00:00" in shift and f"parts <b>{stats.parts}</b>" in shift
    win.station.writer.flush()
    assert count_parts(win.station.db, PartFilter(since=naive_utc(midnight))) == stats.parts
    before = PartFilter(since=naive_utc(midnight), other_than_run=line.run_id)
    assert count_parts(win.station.db, before) == 0
    win.close()


def test_the_verdict_area_says_what_the_line_does_and_never_shows_an_old_verdict(qtbot, window):
    window.start_line()
    _frames_painted(qtbot, window, 3)
    text, _, live = window.view.banner()
    assert live and text != "STOPPED"
    qtbot.waitUntil(window.gauges.isEnabled, timeout=5_000)  # live figures, drawn as such
    window.line_panel.pause_button.click()
    assert window.view.banner()[:1] == ("PAUSED",) and not window.view.banner()[2]
    qtbot.wait(1200)  # paused for longer than a verdict stays current: still PAUSED, no verdict
    assert window.view.banner()[0] == "PAUSED"
    assert not window.gauges.isEnabled(), "the gauges grey out with the line"
    window.line_panel.pause_button.click()
    _frames_painted(qtbot, window, 2)
    assert window.view.banner()[2], "live again once frames come"
    qtbot.waitUntil(window.gauges.isEnabled, timeout=5_000)
    window.line.paused.set()  # frames stop coming without the operator pausing (as a stalled camera)
    qtbot.waitUntil(lambda: window.view.banner()[0] == "NO NEW FRAMES", timeout=5_000)
    window.line.paused.clear()
    window.stop_line()
    assert window.view.banner()[:1] == ("STOPPED",) and not window.view.banner()[2]
    qtbot.waitUntil(lambda: not window.gauges.isEnabled(), timeout=5_000)


def test_a_camera_that_is_not_there_shows_source_lost_not_a_verdict(qtbot, db_path):
    config = LineConfig(source="96", weights=str(demo_model_path()), device="cpu", imgsz=160)
    win = MainWindow(config, db_path)
    qtbot.addWidget(win)
    win.show()
    win.start_line()
    qtbot.waitUntil(lambda: win.view.state == "SOURCE LOST", timeout=60_000)
    text, colour, live = win.view.banner()
    assert text == "SOURCE LOST" and not live
    assert "camera 96" in win.banner.text()
    # no picture ever came: the state is drawn where a verdict would be, in its colour
    assert win.view.grab().toImage().pixelColor(16, 16).name() == colour.name()
    win.close()


def test_the_gauges_show_no_nan_and_the_plot_ignores_the_wheel(qtbot, window):
    window.start_line()
    qtbot.waitUntil(lambda: window.line is not None, timeout=60_000)
    window.gauges.refresh(window.line)  # before any frame was timed
    assert "nan" not in window.gauges.latency_table.text()
    box = window.gauges.plot.getViewBox()
    before = box.viewRange()
    point = window.gauges.plot.rect().center()
    wheel = QWheelEvent(
        QPointF(point),
        QPointF(window.gauges.plot.mapToGlobal(point)),
        QPoint(0, 0),
        QPoint(0, 480),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(window.gauges.plot.viewport(), wheel)
    assert box.viewRange() == before


def test_space_pauses_and_resumes_and_a_source_field_still_takes_spaces(qtbot, window):
    window.start_line()
    _frames_painted(qtbot, window, 2)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)  # shortcuts go to the active window
    window.view.setFocus()
    QTest.keyClick(window.windowHandle(), Qt.Key.Key_Space)  # as the window system delivers it
    assert window.line.paused.is_set() and window.view.state == "PAUSED"
    QTest.keyClick(window.windowHandle(), Qt.Key.Key_Space)
    assert not window.line.paused.is_set() and window.view.state is None
    edit = window.line_panel.source_edit
    edit.setFocus()
    edit.setText("my")
    QTest.keyClick(window.windowHandle(), Qt.Key.Key_Space)
    assert edit.text() == "my " and not window.line.paused.is_set()


def test_a_recipe_chosen_in_the_window_sets_the_rules_and_says_when_it_is_in_force(qtbot, db_path, tmp_path):
    path = tmp_path / "recipes.toml"
    path.write_text('[[recipe]]\nnumber = 4\nname = "stains only"\nclasses = ["stain"]\nconf = 0.7\n')
    config = LineConfig(source="synthetic:fps=15", weights=str(demo_model_path()), device="cpu", imgsz=160)
    win = MainWindow(config, db_path, recipes=load_recipes(path))
    qtbot.addWidget(win)
    win.show()
    panel = win.line_panel
    items = [panel.recipe_combo.itemText(i) for i in range(panel.recipe_combo.count())]
    assert items == ["— none —", "4 · stains only"]
    win.start_line()
    qtbot.waitUntil(lambda: win.line is not None and win.line.frames > 2, timeout=60_000)
    panel.recipe_combo.setCurrentIndex(1)
    panel.recipe_combo.activated.emit(1)
    assert win.config.defect_classes == ("stain",) and win.rules.min_confidence == 0.7
    qtbot.waitUntil(lambda: win.line.recipe is not None, timeout=10_000)
    qtbot.waitUntil(lambda: panel.recipe_note.text() == "", timeout=5_000)
    assert win.line.cameras[0].inspector.rules.defect_classes == frozenset({"stain"})
    shown = win.rules.class_list.findItems("*", Qt.MatchFlag.MatchWildcard)
    checked = [item.text() for item in shown if item.checkState() == Qt.CheckState.Checked]
    assert checked == ["stain"]
    win.close()


def test_a_line_of_several_cameras_shows_each_and_the_one_clicked_in_the_big_view(qtbot, db_path):
    cameras = ("top=synthetic:fps=15", "side=synthetic:fps=15", "end=synthetic:fps=15")
    config = LineConfig(cameras=cameras, weights=str(demo_model_path()), device="cpu", imgsz=160)
    win = MainWindow(config, db_path)
    qtbot.addWidget(win)
    win.show()
    win.start_line()
    qtbot.waitUntil(lambda: win.cameras.isVisible() and len(win.cameras.views) == 3, timeout=60_000)
    assert [v.title for v in win.cameras.views] == ["top", "side", "end"] and win.view.title == "top"
    assert win.line_panel.source_edit.text() == "3 cameras: top, side, end"
    qtbot.waitUntil(lambda: all(v.shown >= 3 for v in win.cameras.views), timeout=30_000)
    QTest.mouseClick(win.cameras.views[1], Qt.MouseButton.LeftButton)
    assert win.view.title == "side"
    _frames_painted(qtbot, win, 3)
    assert win.view._result.camera == "side", "the big view follows the camera clicked"
    qtbot.waitUntil(lambda: "<b>side</b>" in win.counts.counts_label.text(), timeout=10_000)
    # a recipe that leaves side out: side says so where its verdict was, in the strip and the big view
    win.line.choose_recipe(Recipe(5, "top only", (("judged_cameras", ("top",)),)))
    side = win.cameras.views[1]
    qtbot.waitUntil(lambda: side.state == LEFT_OUT and win.view.state == LEFT_OUT, timeout=10_000)
    assert win.cameras.views[0].state is None and win.cameras.views[2].state == LEFT_OUT
    win.line.choose_recipe(Recipe(6, "every camera", ()))
    qtbot.waitUntil(lambda: side.state is None and win.view.state is None, timeout=10_000)
    win.line_panel.source_edit.editingFinished.emit()  # leaving the field as it is keeps the cameras
    assert len(win.line.cameras) == 3
    win.line_panel.source_edit.setText("synthetic:fps=15")
    win.line_panel.source_edit.editingFinished.emit()  # one source typed: the line is that one camera
    qtbot.waitUntil(lambda: win.line is not None and len(win.line.cameras) == 1, timeout=60_000)
    assert not win.cameras.isVisible() and win.view.title == ""
    win.close()


def test_the_window_fits_its_screen_and_never_shrinks_past_its_controls(qtbot, window):
    room = window.screen().availableGeometry()
    assert window.width() <= max(room.width(), window.minimumWidth())
    assert window.height() <= max(room.height(), window.minimumHeight())
    window.resize(480, 320)  # where the verdict and Pause were cut off
    qtbot.waitUntil(lambda: window.width() >= 900 and window.height() >= 560, timeout=5_000)
    pause = window.line_panel.pause_button
    corner = pause.mapTo(window, pause.rect().bottomRight())
    assert window.rect().contains(corner) and pause.isVisible(), "Pause is on screen, whole"
    window.resize(1280, 800)  # the whole panel in view: the latency table folded, the rest in tabs
    qtbot.waitUntil(lambda: window.height() == 800, timeout=5_000)
    qtbot.wait(100)
    assert window.side.verticalScrollBar().maximum() == 0
    assert not window.gauges.latency_table.isVisible()
    window.gauges.table_toggle.click()
    assert window.gauges.latency_table.isVisible(), "unfolded on demand"
