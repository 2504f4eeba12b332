"""What leaves the station: the line's state, its counters and each decided part, in the one shape
every link (PLC, OPC UA, MQTT) sends on."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from inspector.inspection.parts import PartVerdict

STOPPED, STARTING, RUNNING, PAUSED, SOURCE_LOST, COMPILING = (
    "stopped",
    "starting",
    "running",
    "paused",
    "source lost",
    "compiling",
)
STATE_CODES: dict[str, int] = {
    STOPPED: 0,
    STARTING: 1,
    RUNNING: 2,
    PAUSED: 3,
    SOURCE_LOST: 4,
    COMPILING: 5,
}
"""The station's state as one number (the PLC's state register, OPC UA's ``StateCode``)."""

MASK_BITS = 32
"""Defect classes with a class id below this have a bit in a part's defect mask."""


def part_json(part: PartVerdict) -> dict[str, Any]:
    """One decided part: its id in the run, verdict, frames and defects (frame pixels)."""
    return {
        "part": part.part,
        "camera": part.camera,
        "kind": part.kind,
        "verdict": part.verdict,
        "first_frame": part.first_frame,
        "last_frame": part.last_frame,
        "best_frame": part.best_frame,
        "box": [round(v, 2) for v in part.box],
        "defects": [
            {
                "class": d.class_name,
                "confidence": round(d.confidence, 4),
                "x1": round(d.box[0], 2),
                "y1": round(d.box[1], 2),
                "x2": round(d.box[2], 2),
                "y2": round(d.box[3], 2),
                "frame": d.frame,
                "frames": d.frames,
            }
            for d in part.defects
        ],
    }


def iso_utc(timestamp: float) -> str:
    """A wall time as ISO 8601 in UTC, to the millisecond: what consumers parse everywhere."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Counters:
    """Parts decided in the current run (a defect tracked without a part is not a part)."""

    run: int = 0
    parts: int = 0
    ok: int = 0
    ng: int = 0

    def add(self, part: PartVerdict) -> Counters:
        if not part.kind:
            return self
        return Counters(self.run, self.parts + 1, self.ok + (not part.ng), self.ng + part.ng)

    def as_json(self) -> dict[str, int]:
        return {"run": self.run, "parts": self.parts, "ok": self.ok, "ng": self.ng}


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What every message of a run carries besides the part: who judged it, with what."""

    station: str
    run: int
    model_sha256: str
    class_ids: Mapping[str, int]  # the model's class ids, for the defect mask


@dataclass(frozen=True, slots=True)
class PartMessage:
    """A decided part as the plant sees it. Consumers de-duplicate by (station, run, part)."""

    run: RunInfo
    part: PartVerdict
    backend: str
    decided_perf: float = field(default_factory=time.perf_counter)  # for the verdict-to-PLC latency

    @property
    def ng(self) -> bool:
        return self.part.ng

    @property
    def defect_mask(self) -> int:
        """Bit n set: a defect of class id n was found (ids from ``MASK_BITS`` on have no bit)."""
        mask = 0
        for name in self.part.defect_classes:
            class_id = self.run.class_ids.get(name)
            if class_id is not None and class_id < MASK_BITS:
                mask |= 1 << class_id
        return mask

    def as_json(self) -> dict[str, Any]:
        body = part_json(self.part)
        return {
            "station": self.run.station,
            "run": self.run.run,
            "time": iso_utc(self.part.decided_at),
            **body,
            "defect_classes": list(self.part.defect_classes),
            "model_sha256": self.run.model_sha256,
            "backend": self.backend,
            "recipe": self.part.recipe,
        }


@dataclass(frozen=True, slots=True)
class Update:
    """One change for the links: the state and counters now, and the part just decided, if any."""

    state: str
    counters: Counters
    part: PartMessage | None = None
    recipe: int = 0  # the recipe in force (0: none chosen)
    at: float = field(default_factory=time.time)
