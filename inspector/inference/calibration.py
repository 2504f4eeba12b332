"""Frames of the line itself, for an INT8 compile to calibrate on.

INT8 quantization needs the range of every activation on real inputs, and the only real inputs a
station has are its own camera's. While an INT8 compile waits, the line offers each frame it
inspects (eager serves meanwhile); one in ``EVERY`` is letterboxed into shared memory, so the
samples span parts moving through the view, and the compile worker reads them from there.
"""

from __future__ import annotations

import numpy as np
import torch

from inspector.inference.preprocess import Geometry, letterboxed_bytes, model_input

FRAMES = 64  # enough for stable ranges on the demo model (docs/PERFORMANCE.md); NNCF's default is 300
EVERY = 3  # frames between two samples: a part moves on between them (a tenth of a second at 30/s)
FEWEST = 16  # a calibration on fewer frames is refused


class CalibrationFrames:
    """``FRAMES`` letterboxed frames in shared memory; the line ``offer``s, the worker ``inputs``."""

    def __init__(self, geo: Geometry, frames: int = FRAMES) -> None:
        h, w = geo.input
        self.geo = geo
        self.rows = torch.zeros((frames, h, w, 3), dtype=torch.uint8).share_memory_()
        self.filled = torch.zeros(1, dtype=torch.int64).share_memory_()
        self.offered = 0

    @property
    def size(self) -> int:
        return len(self.rows)

    def taken(self) -> int:
        return int(self.filled.numpy()[0])

    def offer(self, image: np.ndarray) -> None:
        """Keep ``image`` when a sample is due and room is left; cheap when not (the line's thread)."""
        n, box = self.taken(), self.geo.letterbox
        if n >= self.size or image.shape[:2] != (box.frame_height, box.frame_width):
            return
        self.offered += 1
        if (self.offered - 1) % EVERY:
            return
        self.rows.numpy()[n] = letterboxed_bytes(image, self.geo)
        self.filled.numpy()[0] = n + 1  # after the row: the worker reads only rows below the count

    def inputs(self, dtype: torch.dtype) -> list[np.ndarray]:
        """The frames taken so far, each as the (1, 3, h, w) input the network is given."""
        return [model_input(row[None], dtype).numpy() for row in self.rows.numpy()[: self.taken()]]
