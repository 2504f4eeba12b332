"""INT8 calibrates on frames of the line, spread over its parts, of the size it was set up for."""

import numpy as np
import pytest
import torch

from inspector.capture.synthetic import SyntheticConveyor
from inspector.inference import calibration
from inspector.inference.calibration import CalibrationFrames
from inspector.inference.preprocess import letterbox_geometry, letterbox_on_host


def test_one_frame_in_every_few_is_kept_whole_and_only_of_the_lines_size():
    geo = letterbox_geometry(720, 1280, 224, 32)
    frames = CalibrationFrames(geo, frames=3)
    line = SyntheticConveyor(seed=4, fps=0)
    images = [line.render(i).image for i in range(3 * calibration.EVERY + 2)]
    frames.offer(np.zeros((360, 640, 3), np.uint8))  # another camera's size: not kept, not counted
    for image in images:
        frames.offer(image)
    assert frames.taken() == 3  # full: the rest are not kept
    inputs = frames.inputs(torch.float32)
    assert [x.shape for x in inputs] == [(1, 3, *geo.input)] * 3
    kept = images[:: calibration.EVERY][:3]
    for x, image in zip(inputs, kept, strict=True):  # as the eager backend prepares each frame
        assert np.array_equal(x, letterbox_on_host([image], geo, torch.float32).numpy())


@pytest.mark.parametrize("wanted", [1, calibration.FRAMES])
def test_the_worker_reads_what_the_line_wrote_through_shared_memory(wanted):
    geo = letterbox_geometry(480, 640, 160, 32)
    frames = CalibrationFrames(geo, frames=wanted)
    assert frames.rows.is_shared() and frames.filled.is_shared()
    assert frames.size == wanted and frames.inputs(torch.float32) == []
