import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from inspector.ui.qt_env import release_opencv_qt_paths

release_opencv_qt_paths()  # before pytest-qt creates the QApplication

import pytest  # noqa: E402

from inspector.line.config import LineConfig  # noqa: E402
from inspector.paths import demo_model_path  # noqa: E402
from inspector.ui.main_window import MainWindow  # noqa: E402


@pytest.fixture
def window(qtbot, db_path):
    """The station on the demo line at a small input size, shown offscreen; closed after the test
    unless the test closed it."""
    config = LineConfig(source="synthetic:fps=15", weights=str(demo_model_path()), device="cpu", imgsz=160)
    win = MainWindow(config, db_path)
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.isVisible():
        win.close()


def pytest_configure(config):
    """Settings go to a folder of this test run, never to the user's own."""
    import tempfile

    from PySide6.QtCore import QSettings

    folder = tempfile.mkdtemp(prefix="inspector-settings-")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, folder)
