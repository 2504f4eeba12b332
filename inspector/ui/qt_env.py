"""The process environment Qt needs before the QApplication exists.

OpenCV's bundled Qt 5 plugins are kept away from PySide6, and a window that cannot open is said so
in a sentence: where no platform plugin loads, Qt ends the process with an abort.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping
from pathlib import Path

# what Qt's X11 plugin needs beyond a basic X client, as Debian and Ubuntu name it
XCB_PACKAGES = (
    "libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 "
    "libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0"
)
XCB_CURSOR = "libxcb-cursor.so.0"  # loaded by the plugin when it starts, so not among its links


def release_opencv_qt_paths() -> None:
    """The opencv-python wheel points ``QT_QPA_PLATFORM_PLUGIN_PATH`` at its own Qt 5 plugins when
    cv2 is imported; Qt 6 would then fail to load a platform plugin."""
    import cv2

    cv2_dir = os.path.dirname(os.path.abspath(cv2.__file__))
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        if os.environ.get(name, "").startswith(cv2_dir):
            del os.environ[name]


def window_problem(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> str | None:
    """Why the window cannot open here, or None. Only Linux's X11 case is checked: elsewhere, or
    where ``QT_QPA_PLATFORM`` names another plugin or a Wayland session is there, Qt chooses."""
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if not platform.startswith("linux") or (chosen and not chosen.startswith("xcb")):
        return None
    if not chosen and environ.get("WAYLAND_DISPLAY"):
        return None
    if not environ.get("DISPLAY"):
        return (
            "no screen to open the window on (DISPLAY is not set): start inspector in a desktop "
            "session, or run the line without a window: inspector run --headless"
        )
    plugin = xcb_plugin_path()
    if not plugin.exists():  # a Qt laid out otherwise: it says what it lacks itself
        return None
    if problem := library_problem(plugin) or library_problem(Path(XCB_CURSOR)):
        return f"Qt cannot load its X11 plugin ({problem}); on Debian or Ubuntu: apt install {XCB_PACKAGES}"
    if not x_server_answers(environ["DISPLAY"]):
        return (
            f"cannot connect to the screen {environ['DISPLAY']} (DISPLAY): is its X server running, and "
            "may this user open windows on it? Or run the line without a window: inspector run --headless"
        )
    return None


def x_server_answers(display: str) -> bool:
    """Whether an X connection to ``display`` opens, through the libxcb that Qt's plugin uses."""
    xcb = ctypes.CDLL("libxcb.so.1")
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)  # never NULL: an error object at worst
    try:
        return xcb.xcb_connection_has_error(connection) == 0
    finally:
        xcb.xcb_disconnect(connection)


def xcb_plugin_path() -> Path:
    from PySide6.QtCore import QLibraryInfo

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    return plugins / "platforms" / "libqxcb.so"


def library_problem(path: Path) -> str | None:
    """What the dynamic loader says when it cannot load ``path`` (a bare name is searched for), or None."""
    try:
        ctypes.CDLL(str(path))
    except OSError as exc:
        return str(exc).removeprefix(f"{path}: ")
    return None
