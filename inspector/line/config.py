"""What a line is built from: one set of settings and defaults for every front end."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from inspector.detections import Box
from inspector.errors import ConfigError
from inspector.inspection.rules import InspectionRules

BACKENDS: tuple[str, ...] = ("eager", "compiled")
MAX_IMGSZ = 4096  # beyond it the network's activations no longer fit a line PC's memory


@dataclass(frozen=True)
class LineConfig:
    """A line's source, model, device, thresholds and backend.

    ``min_confidence`` makes a detection a defect (with its class listed in ``defect_classes``,
    ``None`` meaning every class); detections down to ``draw_confidence`` are still found, drawn
    dashed in the window and written to a detections file, so the operator sees what the rules
    leave out.
    """

    source: str = "synthetic"
    weights: str = ""
    device: str = "auto"
    imgsz: int | None = None
    seed: int = 0
    min_confidence: float = 0.5
    draw_confidence: float = 0.25
    iou: float = 0.5
    defect_classes: tuple[str, ...] | None = None
    roi: Box | None = None
    backend: str = "eager"
    mode: str = "reduce-overhead"
    compile_ahead: bool | None = None  # None: on a GPU, where a compile the cache holds takes seconds
    loop: bool = False
    save_images: bool = True

    def __post_init__(self) -> None:
        for name in ("min_confidence", "draw_confidence", "iou"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ConfigError(f"{name.replace('_', ' ')} must be a number within 0..1, got {value}")
        if self.imgsz is not None and not 32 <= self.imgsz <= MAX_IMGSZ:
            raise ConfigError(f"input size must be within 32..{MAX_IMGSZ} pixels, got {self.imgsz}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}: choose {' or '.join(BACKENDS)}")
        if self.roi is not None and not all(math.isfinite(v) for v in self.roi):
            raise ConfigError(f"region of interest {self.roi}: every coordinate must be a finite number")
        self.rules()  # the rules check what is left (an empty region of interest)

    def with_(self, **changes: object) -> LineConfig:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def detect_confidence(self) -> float:
        """The engine's own threshold: low enough for both the rules and the drawing."""
        return min(self.draw_confidence, self.min_confidence)

    def rules(self) -> InspectionRules:
        classes = frozenset(self.defect_classes) if self.defect_classes else None
        return InspectionRules(classes, self.min_confidence, self.roi)
