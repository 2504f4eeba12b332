import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from inspector.ui.qt_env import release_opencv_qt_paths

release_opencv_qt_paths()  # before pytest-qt creates the QApplication


def pytest_configure(config):
    """Settings go to a folder of this test run, never to the user's own."""
    import tempfile

    from PySide6.QtCore import QSettings

    folder = tempfile.mkdtemp(prefix="inspector-settings-")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, folder)
