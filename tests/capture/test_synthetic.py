import time

import numpy as np
import pytest

from inspector.capture.base import SourceError
from inspector.capture.spec import open_source
from inspector.capture.synthetic import LINE_CLASSES, PART_CLASSES, SyntheticConveyor, _floor_255ths, _Sprite


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


def test_a_part_and_its_shadow_blend_in_as_their_alphas_say_floored_and_clipped_at_the_edges():
    rng = np.random.default_rng(9)
    h, w = 40, 30
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (h, w), dtype=np.uint8)
    shadow = rng.integers(0, 256, (h, w), dtype=np.uint8)
    shade = 255 - (shadow.astype(np.uint16) * 6) // 10
    sprite = _Sprite(
        np.repeat(shade.astype(np.uint8)[..., None], 3, axis=2),
        np.repeat((255 - alpha)[..., None], 3, axis=2),
        rgb.astype(np.uint16) * alpha[..., None],
        (),
        "plate",
        (0.0, 0.0, float(w), float(h)),
    )
    frame = rng.integers(0, 256, (60, 50, 3), dtype=np.uint8)
    for x, y in ((5, 6), (-12, 30), (35, -20)):  # inside, over the left and bottom, over the top-right
        want = frame.astype(np.int64)
        for dx, dy, layer in ((7, 9, "shadow"), (0, 0, "part")):
            for sy in range(h):
                for sx in range(w):
                    fy, fx = y + dy + sy, x + dx + sx
                    if 0 <= fy < 60 and 0 <= fx < 50:
                        here = want[fy, fx]
                        if layer == "shadow":
                            want[fy, fx] = here * (255 - int(shadow[sy, sx]) * 6 // 10) // 255
                        else:
                            a = int(alpha[sy, sx])
                            want[fy, fx] = (rgb[sy, sx].astype(np.int64) * a + here * (255 - a)) // 255
        got = frame.copy()
        SyntheticConveyor._composite(got, sprite, x, y)
        assert np.array_equal(got, want), (x, y)
    every = np.arange(255 * 255 + 1, dtype=np.uint16)
    assert np.array_equal(_floor_255ths(every.copy()), every // 255)
