"""``inspector evaluate --parts``: score a run's decided parts against the synthetic line's truth.

Every part record names its best frame and its box there; the line says where each of its parts
was in that frame, so each record is matched to the physical part it saw, and each of its defects
to the physical defect, without rendering a frame.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspector.capture.synthetic import DEFECT_CLASSES, SyntheticConveyor
from inspector.detections import Box, iou

PART_IOU = 0.5  # a record's box must overlap the part this much (both cut to the frame)
DEFECT_IOU = 0.2  # and a defect's box the physical defect's


@dataclass
class PartScore:
    truth_parts: int = 0
    records: int = 0
    matched: int = 0
    missed: list[int] = field(default_factory=list)  # truth part ids no record saw
    duplicates: list[int] = field(default_factory=list)  # truth part ids recorded more than once
    unmatched: list[int] = field(default_factory=list)  # record part ids that match no part
    defective: int = 0
    defective_ng: int = 0
    good: int = 0
    good_ng: int = 0
    truth_defects: Counter[str] = field(default_factory=Counter)
    found_defects: Counter[str] = field(default_factory=Counter)
    defect_records: int = 0
    duplicate_defects: int = 0

    def as_dict(self) -> dict[str, Any]:
        def ratio(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        return {
            "truth_parts": self.truth_parts,
            "records": self.records,
            "count_error": self.records - self.truth_parts,
            "missed_parts": self.missed,
            "duplicate_parts": self.duplicates,
            "records_matching_no_part": self.unmatched,
            "ng_recall": ratio(self.defective_ng, self.defective),
            "defective_parts": self.defective,
            "false_ng_rate": ratio(self.good_ng, self.good),
            "good_parts": self.good,
            "defect_recall": {
                c: ratio(self.found_defects[c], self.truth_defects[c])
                for c in DEFECT_CLASSES
                if self.truth_defects[c]
            },
            "defect_records": self.defect_records,
            "duplicate_defect_rate": ratio(self.duplicate_defects, self.defect_records),
        }


def score_parts(path: Path, line: SyntheticConveyor, frames: int) -> PartScore:
    """Compare a ``--parts-out`` file of a run over frames ``0 .. frames - 1`` with the parts that
    crossed the view then (at least half in view in some frame)."""
    records = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines() if text.strip()]
    records = [r for r in records if r["kind"]]  # loose defects are no parts
    spans = {s.part_id: s for s in line.part_spans(frames)}
    score = PartScore(truth_parts=len(spans), records=len(records))
    size = (line.width, line.height)
    seen: Counter[int] = Counter()
    found: dict[int, set[int]] = {}  # truth part → defect indexes some record found
    verdicts: dict[int, list[str]] = {}
    for r in records:
        part = _which_part(line, spans, r["best_frame"], tuple(r["box"]), size)
        if part is None:
            score.unmatched.append(r["part"])
            continue
        seen[part] += 1
        verdicts.setdefault(part, []).append(r["verdict"])
        got = found.setdefault(part, set())
        for d in r["defects"]:
            score.defect_records += 1
            index = _which_defect(line, part, d, size)
            if index is None:
                continue
            if index in got:
                score.duplicate_defects += 1
            got.add(index)
    for part_id, span in spans.items():
        if not seen[part_id]:
            score.missed.append(part_id)
            continue
        score.matched += 1
        if seen[part_id] > 1:
            score.duplicates.append(part_id)
        ng = "NG" in verdicts[part_id]
        if span.defects:
            score.defective += 1
            score.defective_ng += ng
        else:
            score.good += 1
            score.good_ng += ng
        for index, name in enumerate(span.defects):
            score.truth_defects[name] += 1
            score.found_defects[name] += index in found.get(part_id, set())
    return score


def _which_part(
    line: SyntheticConveyor, spans: dict, frame: int, box: Box, size: tuple[int, int]
) -> int | None:
    best, best_iou = None, PART_IOU
    for part_id, span in spans.items():
        if not span.in_view[0] <= frame <= span.in_view[1]:
            continue
        own, _ = line.part_boxes(part_id, frame)
        overlap = iou(_cut(own.box, size), box)
        if overlap >= best_iou:
            best, best_iou = part_id, overlap
    return best


def _which_defect(line: SyntheticConveyor, part: int, d: dict, size: tuple[int, int]) -> int | None:
    _, defects = line.part_boxes(part, d["frame"])
    box = (d["x1"], d["y1"], d["x2"], d["y2"])
    best, best_iou = None, DEFECT_IOU
    for t in defects:
        overlap = iou(_cut(t.box, size), box)
        if overlap >= best_iou:
            best, best_iou = t.index, overlap
    return best


def _cut(box: Box, size: tuple[int, int]) -> Box:
    w, h = size
    return (max(0.0, box[0]), max(0.0, box[1]), min(float(w), box[2]), min(float(h), box[3]))
