"""What the detector hands to the rest of the line: plain values, no torch.

Kept apart from the inference code so that the rules, the tracker, storage and the command line
can use them without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[float, float, float, float]
FIRST_CAMERA = "cam1"  # what a line's camera is called unless named: records of every camera say which


@dataclass(frozen=True, slots=True)
class Detection:
    class_id: int
    class_name: str
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def box(self) -> Box:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Milliseconds per stage; on CUDA each stage is synchronised, so the split is real.

    On the compiled backend ``pre`` is the hand-over to its worker (mailbox and doorbell, and a copy
    into shared memory for a frame not captured there) and ``infer`` the worker's time; on a GPU the
    letterbox runs inside the compiled graph and so counts in ``infer``, on a CPU it runs before the
    network, as eager's does, and counts in ``pre``.
    """

    pre_ms: float
    infer_ms: float
    post_ms: float


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``x1, y1, x2, y2`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
