"""One frame in, detections in frame pixels out, with the time each stage took."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inspector.detections import Detection, StageTimes
from inspector.inference.backends import Backend, EagerBackend
from inspector.inference.model import DetectorModel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineOutput:
    detections: tuple[Detection, ...]
    times: StageTimes
    backend: str


class Engine:
    """One model at one fixed input size, run by whichever backend is in charge.

    Every backend takes the same call (``Backend.detect``); the backend can be swapped between two
    calls (on a frame boundary), and a backend other than eager that breaks hands over to eager.
    """

    def __init__(
        self,
        model: DetectorModel,
        imgsz: int = 640,
        conf: float = 0.25,
        iou: float = 0.5,
        max_det: int = 300,
    ) -> None:
        self.model = model
        self.imgsz = imgsz
        self.conf = conf
        self.iou = iou
        self.max_det = max_det
        self.eager = EagerBackend(model, imgsz, max_det)
        self.backend: Backend = self.eager
        self.fallback = ""  # why the backend in charge was dropped, until someone takes the news

    def take_fallback(self) -> str:
        """The reason eager took over from a failing backend since the last call, or ""."""
        reason, self.fallback = self.fallback, ""
        return reason

    def use(self, backend: Backend) -> None:
        self.backend = backend

    def detect(self, image: np.ndarray) -> EngineOutput:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[EngineOutput]:
        """Frames of one size in one pass of the network; each output carries the batch's times."""
        backend = self.backend  # one backend for the whole batch, whatever a swap does meanwhile
        if not backend.fits(images[0].shape[:2]):  # a camera of another size than the compiled one
            backend = self.eager
        try:
            found = backend.detect(images, self.conf, self.iou)
        except Exception as exc:
            if backend is self.eager:
                raise
            # a broken worker must not stop the line: eager takes over
            log.exception("the %s backend failed; eager takes over", backend.label)
            self.fallback = f"{backend.label} backend failed while running ({type(exc).__name__}: {exc})"
            backend = self.backend = self.eager
            found = backend.detect(images, self.conf, self.iou)
        return [EngineOutput(self._detections(dets), found.times, backend.label) for dets in found.boxes]

    def _detections(self, dets: np.ndarray) -> tuple[Detection, ...]:
        names = self.model.names
        return tuple(  # ``tolist`` gives Python floats already
            Detection(int(c), names.get(int(c), str(int(c))), s, x1, y1, x2, y2)
            for x1, y1, x2, y2, s, c in dets.tolist()
        )
