"""A kill closes the real window as the operator would: the line stops and its run is closed."""

import os
import signal
import sqlite3

import pytest
from PySide6.QtCore import QTimer

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
    assert not window.station.writer._thread.is_alive()
    with sqlite3.connect(db_path) as conn:
        frames, ended = conn.execute("SELECT frames, ended_at FROM runs").fetchone()
    assert frames >= 3 and ended is not None


@pytest.mark.timeout(120)  # without the dialog closed by the kill, the test would wait in it
def test_a_kill_while_a_dialog_is_open_cancels_it_and_closes_the_window(qtbot, window, db_path):
    window.start_line()
    qtbot.waitUntil(lambda: window.view.shown >= 3, timeout=30_000)
    QTimer.singleShot(500, lambda: os.kill(os.getpid(), signal.SIGTERM))
    with close_on_stop_signals(window):
        window.line_panel._pick_video()  # the operator's file dialog, open until the kill cancels it
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)
    assert window.line is None  # the dialog's answer did not start a line on the closed window
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT ended_at FROM runs").fetchone()[0] is not None
