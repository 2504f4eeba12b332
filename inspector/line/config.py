"""What a line is built from: one set of settings and defaults for every front end."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

from inspector.detections import Box
from inspector.errors import ConfigError
from inspector.inspection.parts import DEFAULT_PART_CLASSES
from inspector.inspection.rules import InspectionRules
from inspector.line.cameras import named_sources

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
    cameras: tuple[str, ...] = ()  # several cameras, each ``[name=]source``; empty: the one ``source``
    judged_cameras: tuple[str, ...] = ()  # the cameras whose frames are judged (a recipe's); empty: all
    weights: str = ""
    trust_model: bool = False  # read a checkpoint without safe loading: only a file the operator vouches for
    device: str = "auto"
    imgsz: int | None = None
    seed: int = 0
    min_confidence: float = 0.5
    draw_confidence: float = 0.25
    iou: float = 0.5
    defect_classes: tuple[str, ...] | None = None  # None: every class that is not a part
    part_classes: tuple[str, ...] | None = None  # None: the demo line's, where the model has them
    min_frames: int = 3  # frames a defect (and a part) must be seen on to count
    exit_line: float | None = None  # fraction of the frame's width where a part is decided at once
    log_frames: bool = False  # also log every defect on every frame (an audit), not one per defect
    trigger: bool = False  # judge one frame per trigger (a part stopped under the camera), not free-running
    roi: Box | None = None
    backend: str = "eager"
    mode: str | None = None  # the compile mode; None: the device's own (CUDA graphs, or OpenVINO on a CPU)
    compile_ahead: bool | None = None  # None: on a GPU and with OpenVINO, where a cached compile is cheap
    loop: bool = False
    save_images: bool = True
    tracking_processes: int | None = None  # processes that follow the cameras' parts; None: by camera count

    def __post_init__(self) -> None:
        for name in ("min_confidence", "draw_confidence", "iou"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ConfigError(f"{name.replace('_', ' ')} must be a number within 0..1, got {value}")
        if self.imgsz is not None and not 32 <= self.imgsz <= MAX_IMGSZ:
            raise ConfigError(f"input size must be within 32..{MAX_IMGSZ} pixels, got {self.imgsz}")
        if not 1 <= self.min_frames <= 1000:
            raise ConfigError(f"a defect must be seen on 1..1000 frames to count, got {self.min_frames}")
        if self.exit_line is not None and not (math.isfinite(self.exit_line) and 0 < self.exit_line <= 1):
            raise ConfigError(f"the exit line is a fraction of the frame's width, 0..1, got {self.exit_line}")
        if self.tracking_processes is not None and not 0 <= self.tracking_processes <= 64:
            raise ConfigError(
                f"processes following parts must be within 0..64, got {self.tracking_processes}"
            )
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}: choose {' or '.join(BACKENDS)}")
        if self.roi is not None and not all(math.isfinite(v) for v in self.roi):
            raise ConfigError(f"region of interest {self.roi}: every coordinate must be a finite number")
        self.rules()  # the rules check what is left (an empty region of interest)
        self.camera_sources()

    def camera_sources(self) -> list[tuple[str, str]]:
        """(name, source spec) of each camera of the line."""
        return named_sources(self.cameras or (self.source,))

    def with_(self, **changes: object) -> LineConfig:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def detect_confidence(self) -> float:
        """The engine's own threshold: low enough for both the rules and the drawing."""
        return min(self.draw_confidence, self.min_confidence)

    def rules(self, names: Iterable[str] | None = None) -> InspectionRules:
        """The defect rules; given the model's class ``names``, "every class" leaves its parts out."""
        classes = frozenset(self.defect_classes) if self.defect_classes else None
        if classes is None and names is not None:
            classes = frozenset(names) - frozenset(self.parts_of(names))
        return InspectionRules(classes, self.min_confidence, self.roi)

    def parts_of(self, names: Iterable[str]) -> tuple[str, ...]:
        """The model's classes that are parts (none: the line counts defects, not parts)."""
        wanted = self.part_classes if self.part_classes is not None else DEFAULT_PART_CLASSES
        known = set(names)
        return tuple(c for c in wanted if c in known)
