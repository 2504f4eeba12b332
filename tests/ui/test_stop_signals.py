"""A kill closes the real window as the operator would: the line stops and its run is closed."""

import os
import signal
import sqlite3

from inspector.paths import demo_model_path
from inspector.ui.main_window import MainWindow
from inspector.ui.station import LineConfig
from inspector.ui.stop_signals import close_on_stop_signals


def test_a_kill_closes_the_window_and_the_run(qtbot, db_path):
    win = MainWindow(
        LineConfig(source="synthetic:fps=15", weights=str(demo_model_path()), device="cpu", imgsz=160),
        db_path,
    )
    qtbot.addWidget(win)
    win.show()
    win.start_line()
    qtbot.waitUntil(lambda: win.view.shown >= 3, timeout=30_000)
    before = signal.getsignal(signal.SIGTERM)
    with close_on_stop_signals(win):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)  # the window closes once
        qtbot.waitUntil(lambda: not win.isVisible(), timeout=30_000)
    assert signal.getsignal(signal.SIGTERM) is before
    assert not win.writer._thread.is_alive()
    with sqlite3.connect(db_path) as conn:
        frames, ended = conn.execute("SELECT frames, ended_at FROM runs").fetchone()
    assert frames >= 3 and ended is not None
