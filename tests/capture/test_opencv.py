"""OpenCV's capture module: OpenCV's own log kept off the terminal, on OpenCV 4 and 5 alike."""

import cv2

from inspector.capture import opencv


def test_opencvs_own_log_is_silent_once_the_capture_module_is_imported():
    cv2.utils.logging.setLogLevel(3)  # OpenCV's default: warnings and worse
    opencv._silence_opencv_log()
    assert cv2.utils.logging.getLogLevel() == 0


def test_on_opencv_4_the_log_is_silenced_through_its_own_name(monkeypatch):
    """OpenCV 4 (which the pin allows) has no ``cv2.utils.logging``: its call is ``cv2.setLogLevel``."""
    levels = []
    monkeypatch.delattr(cv2.utils, "logging")
    monkeypatch.setattr(cv2, "setLogLevel", levels.append, raising=False)
    opencv._silence_opencv_log()
    assert levels == [0]
