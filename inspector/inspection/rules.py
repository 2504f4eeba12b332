"""The operator's inspection rules: which detections are defects, and whether a frame passes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from inspector.detections import Box, Detection
from inspector.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    defects: tuple[Detection, ...]


@dataclass(frozen=True, slots=True)
class InspectionRules:
    """A detection is a defect when its class is listed (``None``: every class), its confidence
    reaches ``min_confidence`` and its centre lies inside ``roi`` (``None``: the whole frame).
    A frame passes when it shows no defect."""

    defect_classes: frozenset[str] | None = None
    min_confidence: float = 0.25
    roi: Box | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"minimum confidence must be within 0..1, got {self.min_confidence}")
        if self.roi is not None and (self.roi[2] <= self.roi[0] or self.roi[3] <= self.roi[1]):
            raise ConfigError(f"region of interest {self.roi} is empty: give x1,y1,x2,y2 with x2>x1, y2>y1")

    def is_defect(self, d: Detection) -> bool:
        if self.defect_classes is not None and d.class_name not in self.defect_classes:
            return False
        if d.confidence < self.min_confidence:
            return False
        if self.roi is not None:
            cx, cy = (d.x1 + d.x2) / 2, (d.y1 + d.y2) / 2
            x1, y1, x2, y2 = self.roi
            if not (x1 <= cx <= x2 and y1 <= cy <= y2):
                return False
        return True

    def evaluate(self, detections: Iterable[Detection]) -> Verdict:
        defects = tuple(d for d in detections if self.is_defect(d))
        return Verdict(passed=not defects, defects=defects)


def parse_roi(text: str) -> Box:
    """``x1,y1,x2,y2`` in frame pixels."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise ConfigError(f"region of interest {text!r}: expected four numbers x1,y1,x2,y2")
    return values  # type: ignore[return-value]
