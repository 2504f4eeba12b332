import time

import numpy as np
import pytest

from inspector.capture.base import SourceError
from inspector.capture.spec import open_source
from inspector.capture.synthetic import LINE_CLASSES, PART_CLASSES, SyntheticConveyor


def test_frames_are_a_function_of_seed_and_index():
    a = SyntheticConveyor(seed=3, fps=0)
    b = SyntheticConveyor(seed=3, fps=0)
    # b renders out of order: the result must not depend on what was rendered before
    late = b.render(400)
    early = b.render(7)
    assert np.array_equal(a.render(7).image, early.image)
    assert np.array_equal(a.render(400).image, late.image)
    assert a.render(7).truth == early.truth
    assert not np.array_equal(SyntheticConveyor(seed=4, fps=0).render(7).image, early.image)


def test_truth_boxes_lie_in_the_frame_and_use_known_classes():
    line = SyntheticConveyor(seed=1, fps=0)
    seen: set[str] = set()
    clean_parts = 0
    for i in range(0, 3000, 20):
        frame = line.render(i)
        assert frame.image.shape == (720, 1280, 3) and frame.image.dtype == np.uint8
        for box in frame.truth:
            assert 0 <= box.x1 < box.x2 <= 1280 and 0 <= box.y1 < box.y2 <= 720
            assert box.class_name in LINE_CLASSES and box.part >= 0
            assert (box.index == -1) == (box.class_name in PART_CLASSES)
            seen.add(box.class_name)
        clean_parts += sum(1 for p in frame.parts if not p.defects)
        for part in frame.parts:  # a part wholly in view is labelled, tight around its pixels
            own = [b for b in frame.truth if b.part == part.part_id and b.index == -1]
            assert [(b.class_name, b.box) for b in own] == [(part.kind, part.box)]
            assert all(b.part == part.part_id for b in part.defects)
    assert seen == set(LINE_CLASSES)
    assert clean_parts > 0, "some parts must be defect-free"


def test_frames_are_read_only():
    frame = SyntheticConveyor(fps=0).render(0)
    with pytest.raises(ValueError):
        frame.image[0, 0, 0] = 1


def test_paced_line_runs_at_its_frame_rate_and_unpaced_does_not_wait():
    paced = SyntheticConveyor(fps=20, width=320, height=240)
    assert paced.live
    paced.open()
    start = time.perf_counter()
    for _ in range(6):
        paced.read()
    assert time.perf_counter() - start >= 5 / 20 * 0.9
    unpaced = SyntheticConveyor(fps=0, frames=3, width=320, height=240)
    assert not unpaced.live
    unpaced.open()
    assert [unpaced.read().index for _ in range(3)] == [0, 1, 2]
    assert unpaced.read() is None


def test_cancel_wakes_a_paced_read():
    line = SyntheticConveyor(fps=0.5, width=320, height=240)
    line.open()
    line.read()
    line.cancel()
    start = time.perf_counter()
    assert line.read() is None
    assert time.perf_counter() - start < 0.5


def test_spec_options_reach_the_line():
    line = open_source("synthetic:seed=9,fps=0,width=640,height=360", seed=1)
    assert isinstance(line, SyntheticConveyor)
    assert (line.seed, line.fps, line.width, line.height) == (9, 0, 640, 360)
    assert open_source("synthetic", seed=4).seed == 4


@pytest.mark.parametrize("spec", ["synthetic:colour=red", "synthetic:fps=fast", "synthetic:width=10"])
def test_bad_synthetic_options_are_reported(spec):
    with pytest.raises(SourceError):
        open_source(spec)
