"""One frame in, detections in frame pixels out, with the time each stage took."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from inspector.inference.backends import CompiledBackend, EagerBackend
from inspector.inference.model import DetectorModel
from inspector.inference.postprocess import select_boxes, select_candidates, to_frame_pixels
from inspector.inference.preprocess import Preprocessor, letterbox_geometry


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
    def box(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Milliseconds per stage; on CUDA each stage is synchronised, so the split is real.

    On the compiled backend the letterbox runs inside the compiled graph: ``pre`` is then the
    hand-over to its worker (mailbox and doorbell, and a copy into shared memory for a frame not
    captured there) and ``infer`` all the worker's device time.
    """

    pre_ms: float
    infer_ms: float
    post_ms: float


@dataclass(frozen=True, slots=True)
class EngineOutput:
    detections: tuple[Detection, ...]
    times: StageTimes
    backend: str


class Engine:
    """Preprocess → backend → postprocess for one model at one fixed input size.

    The backend can be swapped between two calls (on a frame boundary); everything else stays.
    """

    def __init__(
        self,
        model: DetectorModel,
        imgsz: int = 640,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
    ) -> None:
        self.model = model
        self.imgsz = imgsz
        self.conf = conf
        self.iou = iou
        self.max_det = max_det
        self.preprocess = Preprocessor(imgsz, model.stride, model.device, model.dtype)
        self.backend: EagerBackend | CompiledBackend = EagerBackend(model.network)
        self.fallback = ""  # why the compiled backend was dropped, until someone takes the news

    def take_fallback(self) -> str:
        """The reason eager took over from a failing compiled backend since the last call, or ""."""
        reason, self.fallback = self.fallback, ""
        return reason

    def use(self, backend: EagerBackend | CompiledBackend) -> None:
        self.backend = backend

    def detect(self, image: np.ndarray) -> EngineOutput:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[EngineOutput]:
        """Frames of one size in one pass of the network; each output carries the batch's times."""
        backend = self.backend  # one backend for the whole batch, whatever a swap does meanwhile
        if isinstance(backend, CompiledBackend):
            try:
                return self._detect_compiled(backend, images)
            except Exception as exc:  # a broken worker must not stop the line: eager takes over
                backend = self.backend = EagerBackend(self.model.network)
                self.fallback = f"compiled backend failed while running ({type(exc).__name__}: {exc})"
        sync = _synchronizer(self.model.device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            x, box = self.preprocess(images)
            sync()
            t1 = time.perf_counter()
            raw = backend(x)
            sync()
            t2 = time.perf_counter()
            found = [
                to_frame_pixels(select_boxes(r, self.conf, self.iou, self.max_det, self.model.end2end), box)
                for r in raw
            ]
        t3 = time.perf_counter()
        times = StageTimes((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        return [EngineOutput(self._detections(dets), times, backend.label) for dets in found]

    def _detect_compiled(self, backend: CompiledBackend, images: Sequence[np.ndarray]) -> list[EngineOutput]:
        out = backend(images, self.conf, self.iou)
        t0 = time.perf_counter()
        height, width = images[0].shape[:2]
        box = letterbox_geometry(height, width, self.imgsz, self.model.stride).letterbox
        found = [
            to_frame_pixels(select_candidates(c, self.conf, self.iou, self.max_det, self.model.end2end), box)
            for c in out.candidates
        ]
        times = StageTimes(out.transfer_ms, out.device_ms, (time.perf_counter() - t0) * 1e3)
        return [EngineOutput(self._detections(dets), times, backend.label) for dets in found]

    def _detections(self, dets: np.ndarray) -> tuple[Detection, ...]:
        names = self.model.names
        return tuple(
            Detection(int(c), names.get(int(c), str(int(c))), float(s), *map(float, xyxy))
            for *xyxy, s, c in dets.tolist()
        )


def _synchronizer(device: torch.device):
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None
