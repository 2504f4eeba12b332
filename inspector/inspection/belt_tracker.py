"""Following boxes that a conveyor carries across the view, frame to frame.

ByteTrack's association (confident boxes first, then the faint ones against the tracks still
unmatched; an optimal assignment on box overlap), with the motion model a belt allows: each track
moves at its own steady velocity, measured from the box edges the frame does not cut (a part
entering or leaving grows or shrinks at the cut edge, which a Kalman filter on the box would take
for motion).

Plain Python over the few tracks a view holds, on purpose: numpy's indexing and ``lap`` let go of
the GIL even on arrays of four boxes, and in a line of many cameras, whose capture threads all want
the GIL, every such let-go cost the update a wait of 0.1-0.3 ms for it to come back. Parts on a belt
do not overlap, so each track overlaps at most one box and the assignment is read off directly;
``lap`` solves only the rare frame where that is not so.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import lap
import numpy as np

from inspector.detections import Box, iou

EDGE_PX = 12.0  # a box edge this close to the frame's edge may be where the frame cuts it
SMOOTHING = 0.3  # the weight of each frame's measured velocity against the track's own


@dataclass(slots=True)
class _Track:
    id: int
    box: Box  # as last seen
    last: int  # the frame it was last seen on
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per frame
    moved: bool = False  # whether its velocity was measured yet

    def at(self, frame: int) -> Box:
        """Where it should be on ``frame``, moving as it was."""
        steps = frame - self.last
        dx, dy = self.velocity[0] * steps, self.velocity[1] * steps
        x1, y1, x2, y2 = self.box
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)


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
        self._tracks: list[_Track] = []
        self._next_id = itertools.count(1)

    @property
    def tracking(self) -> int:
        """Tracks followed now, seen or not on the last frame."""
        return len(self._tracks)

    def update(
        self, frame: int, boxes: Sequence[Sequence[float]], conf: Sequence[float], size: tuple[int, int]
    ) -> list[tuple[int, int, tuple[float, float] | None]]:
        """Take one frame's boxes (x1 y1 x2 y2 each) and confidences (``size``: the frame's width
        and height); returns (track id, box index, its velocity once measured)."""
        seen: list[Box] = [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in boxes]
        scores = [float(c) for c in conf]
        tracks = self._tracks = [t for t in self._tracks if t.last >= frame - self.buffer]
        predicted = [t.at(frame) for t in tracks]
        strong = [i for i, c in enumerate(scores) if c >= self.high]
        faint = [i for i, c in enumerate(scores) if self.low <= c < self.high]
        matched = [(t, strong[d]) for t, d in assign(predicted, [seen[i] for i in strong], self.min_iou)]
        if faint:  # ByteTrack's second pass: faint boxes for the tracks seen last frame and unmatched
            taken = {t for t, _ in matched}
            left = [t for t, track in enumerate(tracks) if track.last == frame - 1 and t not in taken]
            second = assign([predicted[t] for t in left], [seen[i] for i in faint], self.faint_iou)
            matched += [(left[t], faint[d]) for t, d in second]
        out: list[tuple[int, int, tuple[float, float] | None]] = []
        for t, d in matched:
            track = tracks[t]
            measured = edge_motion(track.box, seen[d], size, max(1, frame - track.last), track.velocity)
            # a belt's speed is steady, a box's edges are not: one jittery box must not fling the track
            if track.moved:
                old = track.velocity
                measured = (
                    old[0] + SMOOTHING * (measured[0] - old[0]),
                    old[1] + SMOOTHING * (measured[1] - old[1]),
                )
            track.velocity, track.moved, track.box, track.last = measured, True, seen[d], frame
            out.append((track.id, d, measured))
        used = {d for _, d in matched}
        for d in strong:
            if d not in used:
                track = _Track(next(self._next_id), seen[d], frame)
                tracks.append(track)
                out.append((track.id, d, None))
        return out


def assign(tracks: Sequence[Box], boxes: Sequence[Box], min_iou: float) -> list[tuple[int, int]]:
    """The pairing of ``tracks`` with ``boxes`` of the most overlap in all, each pair overlapping at
    least ``min_iou``, as (track index, box index)."""
    if not tracks or not boxes:
        return []
    pairs = [
        (t, d)
        for t, a in enumerate(tracks)
        for d, b in enumerate(boxes)
        # most pairs lie apart on the belt: the cheap test first
        if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3] and iou(a, b) >= min_iou
    ]
    if len({t for t, _ in pairs}) == len(pairs) == len({d for _, d in pairs}):
        return pairs  # no track or box has two candidates: taking every pair is the optimum
    cost = 1.0 - np.array([[iou(t, b) for b in boxes] for t in tracks])
    _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=1.0 - min_iou)
    return [(t, int(d)) for t, d in enumerate(x) if d >= 0]


def edge_motion(
    before: Box, after: Box, size: tuple[int, int], gap: int, last: tuple[float, float]
) -> tuple[float, float]:
    """How far a box moved per frame between two sightings ``gap`` frames apart, from the edges the
    frame cuts on neither (an edge at the frame's border may be where the part is cut, not where it
    is); ``last``'s value on an axis where no edge can tell."""
    w, h = size
    right, bottom = w - EDGE_PX, h - EDGE_PX
    dx = dy = 0.0
    nx = ny = 0
    if EDGE_PX < before[0] < right and EDGE_PX < after[0] < right:
        dx, nx = dx + (after[0] - before[0]) / gap, nx + 1
    if EDGE_PX < before[2] < right and EDGE_PX < after[2] < right:
        dx, nx = dx + (after[2] - before[2]) / gap, nx + 1
    if EDGE_PX < before[1] < bottom and EDGE_PX < after[1] < bottom:
        dy, ny = dy + (after[1] - before[1]) / gap, ny + 1
    if EDGE_PX < before[3] < bottom and EDGE_PX < after[3] < bottom:
        dy, ny = dy + (after[3] - before[3]) / gap, ny + 1
    return (dx / nx if nx else last[0], dy / ny if ny else last[1])
