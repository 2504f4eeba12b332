"""Keep OpenCV's bundled Qt 5 plugins away from PySide6.

The opencv-python wheel points ``QT_QPA_PLATFORM_PLUGIN_PATH`` at its own Qt 5 plugins when cv2
is imported; Qt 6 would then fail to load a platform plugin. Call this before the QApplication.
"""

from __future__ import annotations

import os


def release_opencv_qt_paths() -> None:
    import cv2

    cv2_dir = os.path.dirname(os.path.abspath(cv2.__file__))
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        if os.environ.get(name, "").startswith(cv2_dir):
            del os.environ[name]
