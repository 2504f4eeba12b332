"""A kill closes the real window as the operator would: the line stops and its run is closed."""

import os
import signal
import sqlite3

from inspector.ui.stop_signals import close_on_stop_signals


def test_a_kill_closes_the_window_and_the_run(qtbot, window, db_path):
    window.start_line()
    qtbot.waitUntil(lambda: window.view.shown >= 3, timeout=30_000)
    before = signal.getsignal(signal.SIGTERM)
    with close_on_stop_signals(window):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)  # the window closes once
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)
    assert signal.getsignal(signal.SIGTERM) is before
    assert not window.writer._thread.is_alive()
    with sqlite3.connect(db_path) as conn:
        frames, ended = conn.execute("SELECT frames, ended_at FROM runs").fetchone()
    assert frames >= 3 and ended is not None
