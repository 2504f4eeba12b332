"""Following boxes that a conveyor carries across the view, frame to frame.

ByteTrack's association (confident boxes first, then the faint ones against the tracks still
unmatched; an optimal assignment on box overlap, solved by ``lap``), with the motion model a belt
allows: each track moves at its own steady velocity, measured from the box edges the frame does
not cut (a part entering or leaving grows or shrinks at the cut edge, which a Kalman filter on the
box would take for motion). Every step is one array operation over all tracks, so ten parts in
view cost tens of microseconds, where a Kalman filter per track costs most of a millisecond.
"""

from __future__ import annotations

import itertools

import lap
import numpy as np

EDGE_PX = 12.0  # a box edge this close to the frame's edge may be where the frame cuts it
SMOOTHING = 0.3  # the weight of each frame's measured velocity against the track's own


class BeltTracker:
    """``update`` once per frame, in order.

    A confident box (``high``) that matches no track starts one; a track unseen for ``buffer``
    frames is forgotten. Boxes match when their overlap (IoU) with where a track should be now is
    at least ``min_iou`` (``faint_iou`` for boxes below ``high`` but above ``low``).
    """

    def __init__(
        self,
        high: float = 0.25,
        low: float = 0.1,
        min_iou: float = 0.2,
        faint_iou: float = 0.5,
        buffer: int = 30,
    ) -> None:
        self.high, self.low = high, low
        self.min_iou, self.faint_iou = min_iou, faint_iou
        self.buffer = buffer
        self._ids = np.empty(0, np.int64)
        self._boxes = np.empty((0, 4))  # as last seen
        self._velocity = np.empty((0, 2))  # pixels per frame
        self._last = np.empty(0, np.int64)  # the frame each was last seen on
        self._moved = np.empty(0, bool)  # whether its velocity was measured yet
        self._next_id = itertools.count(1)

    @property
    def tracking(self) -> int:
        """Tracks followed now, seen or not on the last frame."""
        return len(self._ids)

    def update(
        self, frame: int, boxes: np.ndarray, conf: np.ndarray, size: tuple[int, int]
    ) -> list[tuple[int, int, tuple[float, float] | None]]:
        """Take one frame's boxes (n x 4, x1 y1 x2 y2) and confidences (``size``: the frame's
        width and height); returns (track id, box index, its velocity once measured)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        conf = np.asarray(conf, np.float64).reshape(-1)
        keep = self._last >= frame - self.buffer
        if not keep.all():
            self._ids, self._boxes, self._velocity = self._ids[keep], self._boxes[keep], self._velocity[keep]
            self._last, self._moved = self._last[keep], self._moved[keep]
        steps = (frame - self._last).astype(np.float64)[:, None]
        predicted = self._boxes + np.tile(self._velocity, 2) * steps
        strong = np.flatnonzero(conf >= self.high)
        faint = np.flatnonzero((conf >= self.low) & (conf < self.high))
        matched = [(t, int(strong[d])) for t, d in _assign(predicted, boxes[strong], self.min_iou)]
        if len(faint):  # ByteTrack's second pass: faint boxes for the tracks seen last frame and unmatched
            taken = {t for t, _ in matched}
            left = np.array([t for t in np.flatnonzero(self._last == frame - 1) if t not in taken], np.int64)
            second = _assign(predicted[left], boxes[faint], self.faint_iou)
            matched += [(int(left[t]), int(faint[d])) for t, d in second]
        out: list[tuple[int, int, tuple[float, float] | None]] = []
        if matched:
            rows = np.array([t for t, _ in matched], np.int64)
            seen = boxes[[d for _, d in matched]]
            gap = np.maximum(1, frame - self._last[rows]).astype(np.float64)
            old = self._velocity[rows]
            measured = edge_motion(self._boxes[rows], seen, size, gap, old)
            # a belt's speed is steady, a box's edges are not: one jittery box must not fling the track
            smoothed = old + SMOOTHING * (measured - old)
            self._velocity[rows] = np.where(self._moved[rows, None], smoothed, measured)
            self._moved[rows] = True
            self._boxes[rows], self._last[rows] = seen, frame
            out = [
                (int(self._ids[t]), d, (float(self._velocity[t, 0]), float(self._velocity[t, 1])))
                for t, d in matched
            ]
        used = {d for _, d in matched}
        new = np.array([d for d in strong if d not in used], np.int64)
        if len(new):
            ids = np.array([next(self._next_id) for _ in new], np.int64)
            self._ids = np.concatenate([self._ids, ids])
            self._boxes = np.concatenate([self._boxes, boxes[new]])
            self._velocity = np.concatenate([self._velocity, np.zeros((len(new), 2))])
            self._last = np.concatenate([self._last, np.full(len(new), frame, np.int64)])
            self._moved = np.concatenate([self._moved, np.zeros(len(new), bool)])
            out += [(int(i), int(d), None) for i, d in zip(ids, new, strict=True)]
        return out


def _assign(tracks: np.ndarray, boxes: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """The pairing of rows of ``tracks`` with rows of ``boxes`` of the most overlap in all, each
    pair overlapping at least ``min_iou``."""
    if not len(tracks) or not len(boxes):
        return []
    cost = 1.0 - iou_matrix(tracks, boxes)
    _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=1.0 - min_iou)
    return [(t, int(d)) for t, d in enumerate(x) if d >= 0]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` with every box in ``b`` (x1 y1 x2 y2)."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(w, 0.0) * np.maximum(h, 0.0)
    area_a = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None]
    area_b = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :]
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def edge_motion(
    before: np.ndarray, after: np.ndarray, size: tuple[int, int], gap: np.ndarray, last: np.ndarray
) -> np.ndarray:
    """How far each box (rows of ``before`` and ``after``, ``gap`` frames apart) moved per frame,
    from the edges the frame cuts on neither sighting (an edge at the frame's border may be where
    the part is cut, not where it is); ``last``'s value where no edge of an axis can tell."""
    limit = np.array(size * 2, np.float64)
    uncut = (before > EDGE_PX) & (before < limit - EDGE_PX) & (after > EDGE_PX) & (after < limit - EDGE_PX)
    moves = np.where(uncut, (after - before) / gap[:, None], 0.0)
    counts = uncut[:, :2].astype(np.int64) + uncut[:, 2:]
    sums = moves[:, :2] + moves[:, 2:]
    return np.where(counts > 0, sums / np.maximum(counts, 1), last)
