"""A window that cannot open is one clear line, never Qt's abort."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.ui.qt_env import library_problem, window_problem, x_server_answers, xcb_plugin_path

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's X11 plugin is Linux's")
NO_SERVER = ":4242"  # a display number no X server here listens on


def open_station(tmp_path: Path, **screen: str) -> subprocess.CompletedProcess:
    """The station started as an operator starts it, with ``screen`` in place of this session's."""
    gone = {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}
    env = {k: v for k, v in os.environ.items() if k not in gone} | screen
    return subprocess.run(
        [sys.executable, "-m", "inspector", "--exit-after", "5", "--db", str(tmp_path / "log.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@linux_only
def test_without_a_screen_the_station_says_so_and_exits_2(tmp_path):
    proc = open_station(tmp_path)
    assert proc.returncode == 2, proc.stderr  # Qt itself aborts here (-6)
    assert proc.stderr.startswith("inspector: error: no screen") and "inspector run --headless" in proc.stderr
    assert not (tmp_path / "log.sqlite").exists()  # no run was started


@linux_only
@pytest.mark.skipif(
    sys.platform.startswith("linux") and library_problem(xcb_plugin_path()) is not None,
    reason="Qt's X11 plugin cannot load here, which the station says first",
)
def test_a_screen_that_does_not_answer_is_named_and_exits_2(tmp_path):
    assert not x_server_answers(NO_SERVER)
    proc = open_station(tmp_path, DISPLAY=NO_SERVER)
    assert proc.returncode == 2, proc.stderr  # Qt itself aborts here (-6)
    assert proc.stderr.startswith(f"inspector: error: cannot connect to the screen {NO_SERVER}")
    assert not (tmp_path / "log.sqlite").exists()


@pytest.mark.parametrize(
    ("environ", "platform"),
    [
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux"),  # the user's own choice of plugin
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux"),  # Qt takes Wayland
        ({}, "win32"),
    ],
)
def test_other_platforms_are_left_to_qt(environ, platform):
    assert window_problem(environ, platform) is None


def test_the_loader_s_reason_is_given_for_a_library_that_cannot_load(tmp_path):
    broken = tmp_path / "libqxcb.so"
    broken.write_bytes(b"not a shared object")
    assert library_problem(broken) == "file too short"  # without the path, which the message names
    assert library_problem(xcb_plugin_path().with_name("libqoffscreen.so")) is None  # the tests' own plugin
