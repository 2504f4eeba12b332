import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from inspector.ui.qt_env import release_opencv_qt_paths

release_opencv_qt_paths()  # before pytest-qt creates the QApplication
