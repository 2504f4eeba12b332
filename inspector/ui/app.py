"""Starting the desktop station, and its smoke-test mode (``--exit-after``, ``--screenshot``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from inspector.line.config import LineConfig
from inspector.line.recipes import Recipe
from inspector.outputs.config import OutputsConfig
from inspector.paths import app_icon_path
from inspector.shifts import Shifts
from inspector.storage.retention import DiskBudget
from inspector.ui.qt_env import release_opencv_qt_paths


def run_app(
    config: LineConfig,
    db_path: Path,
    exit_after: float | None = None,
    screenshot: Path | None = None,
    given: frozenset[str] = frozenset(),
    shifts: Shifts | None = None,
    plant: OutputsConfig | None = None,
    recipes: Mapping[int, Recipe] | None = None,
    recipe: int | None = None,
    budget: DiskBudget | None = None,
) -> int:
    """Open the station on the remembered line (or the demo line) and run until it is closed;
    the settings in ``given`` (and ``shifts``, when given) came from the command line and win over
    the remembered ones."""
    release_opencv_qt_paths()
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from inspector.ui.main_window import MainWindow
    from inspector.ui.settings import remembered_config, remembered_shifts, station_settings
    from inspector.ui.stop_signals import close_on_stop_signals

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("inspector")
    app.setDesktopFileName("inspector")  # matches the installed desktop entry, for the task bar
    app.setWindowIcon(QIcon(str(app_icon_path())))
    settings = station_settings()
    config = remembered_config(settings, config, given)
    window = MainWindow(config, db_path, remembered_shifts(settings, shifts), plant, recipes, budget)
    if recipe is not None:
        window.choose_recipe(recipe)
    geometry = settings.value("window/geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    window.show()
    QTimer.singleShot(0, window.start_line)
    if exit_after is not None:

        def finish() -> None:
            if screenshot is not None:
                window.grab().save(str(screenshot))
            window.close()
            app.quit()

        QTimer.singleShot(int(exit_after * 1000), finish)
    with close_on_stop_signals(window):
        return app.exec()
