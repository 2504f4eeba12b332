"""``inspector evaluate``: score a ``--detections-out`` file against the synthetic line's truth."""

from __future__ import annotations

import json
from pathlib import Path

from inspector.capture.synthetic import DEFECT_CLASSES, SyntheticConveyor
from inspector.lab.evaluation import Score


def score_detections(
    path: Path, line: SyntheticConveyor, min_iou: float = 0.5, min_confidence: float = 0.0
) -> Score:
    """Re-render each frame the file names (the line is a pure function of seed and index) and
    compare its detections at ``min_confidence`` or above (the file also holds the weaker ones the
    window draws dashed) with the defects the line placed there."""
    score = Score()
    with path.open(encoding="utf-8") as fh:
        for text in fh:
            row = json.loads(text)
            frame = line.render(int(row["frame"]))
            found = [
                (d["class"], (d["x1"], d["y1"], d["x2"], d["y2"]))
                for d in row["detections"]
                if d["confidence"] >= min_confidence
            ]
            truth = [(t.class_name, (t.x1, t.y1, t.x2, t.y2)) for t in frame.truth or ()]
            ignore = [(t.x1, t.y1, t.x2, t.y2) for t in frame.truncated or ()]
            score.add(truth, found, min_iou, ignore)
            for part in frame.parts or ():
                if part.defects:
                    continue
                score.clean_parts += 1
                x1, y1, x2, y2 = part.box
                flags = [b for c, b in found if c in DEFECT_CLASSES]
                if any(x1 <= (b[0] + b[2]) / 2 <= x2 and y1 <= (b[1] + b[3]) / 2 <= y2 for b in flags):
                    score.clean_parts_flagged += 1
    return score
