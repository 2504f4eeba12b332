"""Scoring detections against the synthetic line's ground truth (precision and recall at an IoU)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inspector.detections import Box, iou

Labelled = tuple[str, Box]
IGNORE_IOU = 0.3  # a detection this close to a truncated defect is about that defect


@dataclass(frozen=True, slots=True)
class Matching:
    pairs: tuple[tuple[Labelled, Labelled], ...]  # (truth, found)
    missed: int
    extra: int


def match(truth: Sequence[Labelled], found: Sequence[Labelled], min_iou: float = 0.5) -> Matching:
    """Greedy one-to-one matching of same-class boxes, best IoU first."""
    candidates = sorted(
        (
            (iou(t[1], f[1]), ti, fi)
            for ti, t in enumerate(truth)
            for fi, f in enumerate(found)
            if t[0] == f[0]
        ),
        reverse=True,
    )
    used_t: set[int] = set()
    used_f: set[int] = set()
    pairs = []
    for score, ti, fi in candidates:
        if score < min_iou:
            break
        if ti in used_t or fi in used_f:
            continue
        used_t.add(ti)
        used_f.add(fi)
        pairs.append((truth[ti], found[fi]))
    return Matching(tuple(pairs), len(truth) - len(pairs), len(found) - len(pairs))


@dataclass
class Score:
    """Counts at one IoU threshold, overall and per class; clean parts are defect-free parts
    fully in view, checked for any detection centred on them."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    per_class: dict[str, list[int]] | None = None  # class -> [tp, fp, fn]
    clean_parts: int = 0
    clean_parts_flagged: int = 0

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        real = self.true_positives + self.false_negatives
        return self.true_positives / real if real else 1.0

    def add(
        self,
        truth: Sequence[Labelled],
        found: Sequence[Labelled],
        min_iou: float,
        ignore: Sequence[Box] = (),
    ) -> None:
        """Score one frame; detections on an ``ignore`` region (a defect mostly out of view)
        count neither way."""
        found = [f for f in found if not any(iou(f[1], box) >= IGNORE_IOU for box in ignore)]
        m = match(truth, found, min_iou)
        self.true_positives += len(m.pairs)
        self.false_positives += m.extra
        self.false_negatives += m.missed
        per = self.per_class if self.per_class is not None else {}
        self.per_class = per
        matched_t = {id(t) for t, _ in m.pairs}
        matched_f = {id(f) for _, f in m.pairs}
        for t in truth:
            per.setdefault(t[0], [0, 0, 0])[0 if id(t) in matched_t else 2] += 1
        for f in found:
            if id(f) not in matched_f:
                per.setdefault(f[0], [0, 0, 0])[1] += 1

    def as_dict(self) -> dict[str, object]:
        def pr(tp: int, fp: int, fn: int) -> dict[str, float]:
            return {
                "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
                "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
                "instances": tp + fn,
            }

        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
            "per_class": {c: pr(*v) for c, v in sorted((self.per_class or {}).items())},
            "clean_parts": self.clean_parts,
            "clean_parts_flagged": self.clean_parts_flagged,
            "clean_parts_passed": round(1 - self.clean_parts_flagged / self.clean_parts, 4)
            if self.clean_parts
            else 1.0,
        }
