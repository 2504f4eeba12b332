"""A compile says how long it has left from the last one of its kind, and a bad file never stops it."""

import pytest

from inspector.inference.compile_durations import FILE_NAME, CompileDurations
from inspector.inference.frame_pipeline import CompileProgress


def test_each_kind_keeps_its_last_duration_cold_and_warm_apart(tmp_path):
    durations = CompileDurations(tmp_path / "cache")
    assert durations.last("a", warm=False) is None
    durations.record("a", False, 84.2)
    durations.record("a", True, 1.3)
    durations.record("b", False, 40.0)
    durations.record("a", False, 80.0)  # the newest of a kind counts
    again = CompileDurations(tmp_path / "cache")
    assert again.last("a", warm=False) == 80.0 and again.last("a", warm=True) == 1.3
    assert again.last("b", warm=False) == 40.0 and again.last("b", warm=True) is None


@pytest.mark.parametrize("text", ["{half", "[1, 2]", '{"a cold": "soon"}', "\udcff"])
def test_an_unreadable_file_is_as_if_empty_and_is_written_whole_again(tmp_path, text):
    (tmp_path / FILE_NAME).write_text(text, encoding="utf-8", errors="surrogateescape")
    durations = CompileDurations(tmp_path)
    assert durations.last("a", warm=False) is None
    durations.record("a", False, 12.0)
    assert durations.last("a", warm=False) == 12.0


def test_a_folder_that_cannot_be_written_loses_the_estimate_not_the_compile(tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    durations = CompileDurations(blocker / "cache")  # its parent is a file: nothing can be made there
    durations.record("a", False, 12.0)
    assert durations.last("a", warm=False) is None


def test_the_bar_and_the_time_left_follow_the_last_compile_of_the_kind():
    first = CompileProgress("compiling kernels", 0.15, 20.0)
    assert first.estimate(30.0) == (0.15, "no estimate: the first compile of its kind here")
    known = CompileProgress("compiling kernels", 0.15, 20.0, expected_s=80.0)
    assert known.estimate(10.0) == (0.15, "about 70 s left")  # the stage is further than the clock
    assert known.estimate(40.0) == (0.5, "about 40 s left")  # inside the stage, the clock moves it
    assert known.estimate(95.0) == (0.99, "15 s past the last one's 80 s")  # never 100 % before ready
    for expected in (80.0, 95.0, None):  # ready: nothing left to say, whatever the last one took
        assert CompileProgress("ready", 1.0, 85.0, expected_s=expected).estimate(85.0) == (1.0, "")
