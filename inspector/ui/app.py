"""Starting the desktop station, and its smoke-test mode (``--exit-after``, ``--screenshot``)."""

from __future__ import annotations

import sys
from pathlib import Path

from inspector.ui.qt_env import release_opencv_qt_paths


def run_app(config, db_path: Path, exit_after: float | None = None, screenshot: Path | None = None) -> int:
    release_opencv_qt_paths()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from inspector.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("inspector")
    window = MainWindow(config, db_path)
    window.show()
    QTimer.singleShot(0, window.start_line)
    if exit_after is not None:

        def finish() -> None:
            if screenshot is not None:
                window.grab().save(str(screenshot))
            window.close()
            app.quit()

        QTimer.singleShot(int(exit_after * 1000), finish)
    return app.exec()
