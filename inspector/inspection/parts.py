"""Parts across frames: each part tracked, each physical defect on it given one identity, and one
verdict per part, decided once.

Parts are followed by the belt tracker (``belt_tracker``). A defect is assigned to the tracked part whose box
holds its centre and followed from frame to frame by where the part moved, so it stays one defect
however many frames show it. A defect counts once it was seen on ``min_frames`` frames (a single
frame's false alarm does not reject a part). A part is decided when it leaves the view (not seen
for ``lost_frames`` frames) or its centre crosses the exit line, whichever comes first; a part the
tracker finds again after that is not counted again. Without a part class in the model every
defect is tracked on its own and becomes its own record.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from inspector.detections import FIRST_CAMERA, Box, Detection, iou
from inspector.inspection.belt_tracker import EDGE_PX, BeltTracker
from inspector.inspection.rules import InspectionRules

DEFAULT_PART_CLASSES: tuple[str, ...] = ("plate", "washer")
"""The demo line's part classes; a model that has none of them counts defects, not parts."""

OK, NG = "OK", "NG"


@dataclass(frozen=True, slots=True)
class PartsConfig:
    part_classes: frozenset[str]
    min_frames: int = 3  # frames a defect must be seen on to count
    lost_frames: int = 10  # frames unseen after which a part has left the view
    exit_line: float | None = None  # fraction of the frame's width; parts move towards larger x
    recipe: str = ""  # the name of the recipe these settings come from
    camera: str = FIRST_CAMERA  # the camera whose frames these are; every verdict carries it
    track_thresh: float = 0.25  # the confidence a box needs to start or surely continue a track
    match_iou: float = 0.2  # the overlap a box needs with where a track should be now


@dataclass(frozen=True, slots=True)
class Judging:
    """What a part is judged by: fixed when it is first seen, so a recipe changed while it is in
    view applies from the next part on and no part is judged half by one recipe, half by another."""

    rules: InspectionRules
    min_frames: int
    exit_line: float | None
    recipe: str = ""  # the recipe's name, for the record ("" when none was chosen)
    camera: str = FIRST_CAMERA


@dataclass(frozen=True, slots=True)
class PartDefect:
    """One physical defect: its class (the most confident over the frames), its best sighting."""

    class_name: str
    confidence: float
    box: Box  # frame pixels, at ``frame``
    frame: int  # the frame of its best sighting
    frames: int  # how many frames showed it
    first_frame: int
    last_frame: int
    seen_at: float = 0.0  # wall time of its best sighting
    pictured: Box | None = None  # where it lies on its part's picture (the part's ``best_frame``)


@dataclass(frozen=True, slots=True)
class PartVerdict:
    """A decided part: what leaves the station (the log, a PLC, the plant). ``part`` is the part's
    id in its run; ``kind`` its class ("" for a defect tracked without a part). ``image`` shows the
    part at ``best_frame`` (a defect tracked alone: the defect with room around it)."""

    part: int
    kind: str
    verdict: str
    first_frame: int
    last_frame: int
    box: Box  # frame pixels, at ``best_frame``
    best_frame: int
    defects: tuple[PartDefect, ...]
    decided_at: float = field(default_factory=time.time)  # wall time
    first_seen: float = 0.0  # wall times of its first and last frames
    last_seen: float = 0.0
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    image_origin: tuple[int, int] = (0, 0)
    recipe: str = ""  # the recipe it was judged by ("" when none was chosen)
    camera: str = FIRST_CAMERA  # the camera that saw it (its id is its number in the run on this camera)

    @property
    def ng(self) -> bool:
        return self.verdict == NG

    @property
    def defect_classes(self) -> tuple[str, ...]:
        return tuple(sorted({d.class_name for d in self.defects}))


@dataclass(frozen=True, slots=True)
class PartInView:
    """A tracked part in one frame, for drawing: its id, box and, once decided, its verdict."""

    part: int
    kind: str
    box: Box
    verdict: str | None
    defects: int  # defects counted on it so far


class _DefectTrack:
    def __init__(self, d: Detection, sight: _Sighting, where: tuple[float | None, ...]) -> None:
        self.box = d.box
        self.last_frame = self.first_frame = sight.frame
        self.frames = 0
        self.best: tuple[float, Box, _Sighting] = (-1.0, d.box, sight)
        self.votes: Counter[str] = Counter()
        self.where: list[float | None] = [None] * 4  # its centre from each edge of the part, as last seen
        self.boxes: dict[int, Box] = {}  # frame -> its box there
        self.add(d, sight, where)

    def add(self, d: Detection, sight: _Sighting, where: tuple[float | None, ...]) -> None:
        """Another frame showing it."""
        self.box, self.last_frame = d.box, sight.frame
        self.boxes[sight.frame] = d.box
        self.frames += 1
        self.where = [new if new is not None else old for new, old in zip(where, self.where, strict=True)]
        self.vote(d, sight)

    def vote(self, d: Detection, sight: _Sighting) -> None:
        """A detection of it: its class gets the confidence as a vote; the best one is kept."""
        self.votes[d.class_name] += d.confidence
        if d.confidence > self.best[0]:
            self.best = (d.confidence, d.box, sight)

    def record(self, pictured: Box) -> PartDefect:
        confidence, box, sight = self.best
        name = self.votes.most_common(1)[0][0]
        return PartDefect(
            name,
            confidence,
            box,
            sight.frame,
            self.frames,
            self.first_frame,
            self.last_frame,
            sight.wall_time,
            pictured,
        )

    def at(self, frame: int, shift: tuple[float, float]) -> Box:
        """Its box on ``frame``: as seen there, else as seen on the nearest frame that showed it,
        moved on as its part moved."""
        near = min(self.boxes, key=lambda f: (abs(f - frame), -f))
        dx, dy = shift[0] * (frame - near), shift[1] * (frame - near)
        x1, y1, x2, y2 = self.boxes[near]
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)


@dataclass(frozen=True, slots=True)
class _Sighting:
    """The frame a detection came from: its index and wall time."""

    frame: int
    wall_time: float


class _PartTrack:
    def __init__(
        self, key: int, d: Detection, sight: _Sighting, judging: Judging, loose: bool = False
    ) -> None:
        self.key = key  # the tracker's id for it
        self.judging = judging
        self.number = 0  # its number in the run, as the operator sees it, once it is surely a part
        self.loose = loose  # a defect followed on its own: it belongs to no part kind
        self.kinds: Counter[str] = Counter()
        self.first_frame = self.last_frame = sight.frame
        self.first_seen = self.last_seen = sight.wall_time
        self.box = d.box
        self.shift = (0.0, 0.0)  # pixels per frame, from the edges the frame does not cut
        self.best_area = -1.0
        self.best_box = d.box
        self.best_frame = sight.frame
        self.image: np.ndarray | None = None
        self.image_origin = (0, 0)
        self.defects: list[_DefectTrack] = []
        self.verdict: str | None = None
        self.sightings = 0
        self.seen_whole = False  # on some frame, its box touched no edge of the frame

    def see(
        self, d: Detection, sight: _Sighting, velocity: tuple[float, float] | None, size: tuple[int, int]
    ) -> None:
        """Another frame showing it; ``velocity``: its motion as its tracker measured it."""
        frame = sight.frame
        if not self.seen_whole:
            w, h = size
            self.seen_whole = EDGE_PX < d.x1 <= d.x2 < w - EDGE_PX and EDGE_PX < d.y1 <= d.y2 < h - EDGE_PX
        if velocity is not None:
            self.shift = velocity
        self.box, self.last_frame, self.last_seen = d.box, frame, sight.wall_time
        self.sightings += 1
        if not self.loose:
            self.kinds[d.class_name] += d.confidence
        area = (d.x2 - d.x1) * (d.y2 - d.y1)
        if area > self.best_area:  # the most of the part in view: its picture for the record
            self.best_area, self.best_box, self.best_frame = area, d.box, frame

    def box_at(self, frame: int) -> Box:
        """Where the part's box is on ``frame``, had it kept moving as it was."""
        steps = frame - self.last_frame
        dx, dy = self.shift[0] * steps, self.shift[1] * steps
        return (self.box[0] + dx, self.box[1] + dy, self.box[2] + dx, self.box[3] + dy)

    @property
    def kind(self) -> str:
        kinds = self.kinds  # the first of the most voted, as ``most_common`` gives it, at less cost
        return max(kinds, key=kinds.__getitem__) if kinds else ""

    def counted(self) -> list[_DefectTrack]:
        return [t for t in self.defects if t.frames >= self.judging.min_frames]

    def defects_counted(self) -> int:
        least = self.judging.min_frames
        return sum(1 for t in self.defects if t.frames >= least)

    def verdict_now(self) -> PartVerdict:
        frame, box = self.best_frame, self.best_box
        defects = tuple(t.record(box if self.loose else t.at(frame, self.shift)) for t in self.counted())
        return PartVerdict(
            part=self.number,
            kind=self.kind,
            verdict=NG if defects else OK,
            first_frame=self.first_frame,
            last_frame=self.last_frame,
            box=self.best_box,
            best_frame=self.best_frame,
            defects=defects,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            image=self.image,
            image_origin=self.image_origin,
            recipe=self.judging.recipe,
            camera=self.judging.camera,
        )


@dataclass(slots=True)
class PictureOrders:
    """What a book whose frames are elsewhere (in another process) asks of their holder, frame by
    frame: ``take`` a picture of a part (its track's key, box and whether it is a loose defect)
    from the frame just judged; ``give`` each decided part its picture (the keys in the order of
    the verdicts); ``drop`` those of the tracks it forgot."""

    take: list[tuple[int, Box, bool]] = field(default_factory=list)
    give: list[int] = field(default_factory=list)
    drop: list[int] = field(default_factory=list)


class PartPictures:
    """The pictures of the parts in view, kept where the frames are for a book that is not."""

    def __init__(self) -> None:
        self._kept: dict[int, tuple[np.ndarray, tuple[int, int]]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def follow(
        self, orders: PictureOrders | None, image: np.ndarray | None, decided: Sequence[PartVerdict]
    ) -> list[PartVerdict]:
        """Carry out a frame's orders while its ``image`` is at hand (``None``: the run's end, which
        takes no picture); returns the verdicts decided on it with their pictures."""
        if orders is None:
            return list(decided)
        if orders.take and image is None:
            raise ValueError("pictures to take need the frame's image")
        for key, box, loose in orders.take:
            self._kept[key] = part_picture(image, box, loose)  # type: ignore[arg-type]
        pictured = []
        for key, verdict in zip(orders.give, decided, strict=True):
            crop, origin = self._kept.pop(key, (None, (0, 0)))
            pictured.append(replace(verdict, image=crop, image_origin=origin))
        for key in orders.drop:
            self._kept.pop(key, None)
        return pictured


class PartBook:
    """Follows parts and their defects frame by frame and says when each part is decided.

    Call ``update`` once per inspected frame, in order; ``flush`` at the end of the run decides
    whatever is still in view.
    """

    def __init__(self, config: PartsConfig, keep_images: bool = True, frames_elsewhere: bool = False) -> None:
        self.config = config
        self.keep_images = keep_images
        # a book in another process than the frames: it asks for its pictures instead of cropping them
        self.asked: PictureOrders | None = PictureOrders() if frames_elsewhere and keep_images else None
        self._parts: dict[int, _PartTrack] = {}
        self._loose: dict[int, _PartTrack] = {}  # defects tracked on their own, as one-defect "parts"
        self._decided: set[int] = set()
        self._alias: dict[int, int] = {}  # tracker ids given to parts it had lost, and their parts
        self._part_tracker = _tracker(config)
        self._loose_tracker = _tracker(config)
        self._loose_ids = iter(range(-1, -(2**62), -1))  # loose defects' keys, apart from parts'
        self._loose_id: dict[int, int] = {}
        self._numbers = itertools.count(1)  # parts (and loose defects) numbered as they are confirmed
        self._judging: Judging | None = None

    def update(
        self,
        frame_index: int,
        detections: Sequence[Detection],
        rules: InspectionRules,
        image: np.ndarray | None,
        wall_time: float = 0.0,
        size: tuple[int, int] | None = None,
    ) -> tuple[list[PartVerdict], list[PartInView]]:
        """Take one frame's detections; returns the parts decided on it and the parts in view.
        ``image`` ``None``: the frame is elsewhere, ``size`` (width, height) says how large it is."""
        size = _size(image, size)
        sight = _Sighting(frame_index, wall_time)
        judging = self._judging_now(rules)
        kinds = self.config.part_classes
        parts = _one_box_per_part([d for d in detections if d.class_name in kinds])
        judges = {id(t.judging.rules): t.judging.rules for t in self._parts.values() if t.verdict is None}
        judges[id(rules)] = rules  # parts seen before a change of recipe keep being judged by theirs
        defects = [
            d
            for d in detections
            if d.class_name not in kinds and any(r.is_defect(d) for r in judges.values())
        ]
        seen = self._track_parts(parts, sight, size, judging)
        loose = [d for d in self._assign_defects(defects, seen, sight, size) if rules.is_defect(d)]
        loose_seen = self._track_loose(loose, sight, size, judging)
        self._picture(seen + loose_seen, frame_index, image)
        decided = self._decide(frame_index, size[0])
        view = [PartInView(p.number, p.kind, p.box, p.verdict, p.defects_counted()) for p in seen if p.number]
        return decided, view

    def _picture(self, tracks: list[_PartTrack], frame: int, image: np.ndarray | None) -> None:
        """Undecided parts seen best on this frame have their picture taken from it: cropped here,
        or asked of whoever holds the frame."""
        if not self.keep_images:
            return
        for track in tracks:
            if track.best_frame != frame or track.verdict is not None:
                continue
            if image is not None:
                track.image, track.image_origin = part_picture(image, track.best_box, track.loose)
            elif self.asked is not None:
                self.asked.take.append((track.key, track.best_box, track.loose))

    def take_orders(self) -> PictureOrders | None:
        """What this book asked of whoever holds its frames since it was last asked (``None``:
        nothing, or a book that crops its pictures itself)."""
        asked = self.asked
        if asked is None or not (asked.take or asked.give or asked.drop):
            return None
        self.asked = PictureOrders()
        return asked

    def _judging_now(self, rules: InspectionRules) -> Judging:
        """The judging new parts get: one object while rules and settings stay as they are."""
        c = self.config
        j = self._judging
        if j is None or (j.rules, j.min_frames, j.exit_line, j.recipe) != (
            rules,
            c.min_frames,
            c.exit_line,
            c.recipe,
        ):
            j = self._judging = Judging(rules, c.min_frames, c.exit_line, c.recipe, c.camera)
        return j

    def judge_once(
        self,
        frame_index: int,
        detections: Sequence[Detection],
        rules: InspectionRules,
        image: np.ndarray | None,
        wall_time: float = 0.0,
        size: tuple[int, int] | None = None,
    ) -> PartVerdict:
        """A triggered inspection: the part stopped under the camera is judged on this one frame.
        The most confident part box is the part (none: the whole frame is); the defects whose
        centre lies on it count. Every trigger is one part record. ``image`` ``None``: the frame
        is elsewhere (its holder crops the part's picture at the verdict's ``box``)."""
        w, h = _size(image, size)
        kinds = self.config.part_classes
        found = sorted((d for d in detections if d.class_name in kinds), key=lambda d: -d.confidence)
        box: Box = found[0].box if found else (0.0, 0.0, float(w), float(h))
        picture = self.keep_images and image is not None
        crop, origin = _crop(image, box) if picture else (None, (0, 0))  # type: ignore[arg-type]
        defects = tuple(
            PartDefect(
                d.class_name,
                d.confidence,
                d.box,
                frame_index,
                1,
                frame_index,
                frame_index,
                wall_time,
                pictured=d.box,  # this frame is its part's picture
            )
            for d in sorted(detections, key=lambda d: -d.confidence)
            if d.class_name not in kinds
            and rules.is_defect(d)
            and box[0] <= (d.x1 + d.x2) / 2 <= box[2]
            and box[1] <= (d.y1 + d.y2) / 2 <= box[3]
        )
        return PartVerdict(
            part=next(self._numbers),
            kind=found[0].class_name if found else "part",
            verdict=NG if defects else OK,
            first_frame=frame_index,
            last_frame=frame_index,
            box=box,
            best_frame=frame_index,
            defects=defects,
            first_seen=wall_time,
            last_seen=wall_time,
            image=crop,
            image_origin=origin,
            recipe=self.config.recipe,
            camera=self.config.camera,
        )

    def flush(self) -> list[PartVerdict]:
        """The run ends: every part still followed is decided with what was seen of it."""
        return self._decide(None, 0)

    # Inside ------------------------------------------------------------------------------------
    def _track_parts(
        self, parts: list[Detection], sight: _Sighting, size: tuple[int, int], judging: Judging
    ) -> list[_PartTrack]:
        seen = []
        frame = sight.frame
        found = _track(self._part_tracker, parts, frame, size)
        taken = {self._alias.get(i, i) for i, _, _ in found}
        for track_id, d, velocity in found:
            track_id = self._alias.get(track_id, track_id)
            track = self._parts.get(track_id)
            if track is None and track_id in self._decided:  # found again after it left: no new part
                continue
            if track is None:
                track = self._lost_part_at(d, frame, size, taken)
                if track is not None:  # the tracker lost it and started afresh: the same part
                    self._alias[track_id] = track.key
                    taken.add(track.key)
                else:
                    track = self._parts[track_id] = _PartTrack(track_id, d, sight, judging)
            track.see(d, sight, velocity, size)
            self._number(track)
            seen.append(track)
        return seen

    def _number(self, track: _PartTrack) -> None:
        """A track seen on ``min_frames`` frames is a part: it gets the run's next number (a box
        that flickers for a frame or two is no part, and takes none, so the numbers have no gaps)."""
        if not track.number and track.sightings >= track.judging.min_frames:
            track.number = next(self._numbers)

    def _lost_part_at(
        self, d: Detection, frame: int, size: tuple[int, int], taken: set[int]
    ) -> _PartTrack | None:
        """An undecided part, unseen for a few frames, whose box moved on as it was moving lies
        where ``d`` is (a tracker that lost a part, cut by the frame's edge, gives it a new id)."""
        best, best_iou = None, 0.3
        for track in self._parts.values():
            if track.key in taken or track.verdict is not None or track.last_frame >= frame:
                continue
            overlap = iou(_clipped(track.box_at(frame), size), d.box)
            if overlap > best_iou:
                best, best_iou = track, overlap
        return best

    def _assign_defects(
        self, defects: list[Detection], seen: list[_PartTrack], sight: _Sighting, size: tuple[int, int]
    ) -> list[Detection]:
        """Each defect to the part whose box holds its centre (the smallest such box), and there to
        the defect it continues; returns the defects that lie on no part."""
        loose = []
        # parts the detector missed on this frame still hold their defects, where they moved to
        here = {id(p) for p in seen}
        boxes = [(p, p.box) for p in seen] + [
            (p, p.box_at(sight.frame))
            for p in self._parts.values()
            if id(p) not in here and p.verdict is None
        ]
        for d in sorted(defects, key=lambda d: -d.confidence):
            cx, cy = (d.x1 + d.x2) / 2, (d.y1 + d.y2) / 2
            holders = [(p, b) for p, b in boxes if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]]
            if not holders:
                loose.append(d)
                continue
            part, box = min(holders, key=lambda pb: (pb[1][2] - pb[1][0]) * (pb[1][3] - pb[1][1]))
            if not part.judging.rules.is_defect(d):
                continue  # a defect to the recipe of later parts, not to this part's
            where = _where(d, box, size)
            track, again = _nearest(part, d, where, sight.frame)
            if track is None:
                part.defects.append(_DefectTrack(d, sight, where))
            elif again:
                track.vote(d, sight)
            else:
                track.add(d, sight, where)
        return loose

    def _track_loose(
        self, loose: list[Detection], sight: _Sighting, size: tuple[int, int], judging: Judging
    ) -> list[_PartTrack]:
        tracker = self._loose_tracker
        if not loose and not tracker.tracking:
            return []  # nothing to follow: the tracker has no state to age either
        seen = []
        for track_id, d, velocity in _track(tracker, loose, sight.frame, size):
            key = self._loose_id.setdefault(track_id, next(self._loose_ids))
            track = self._loose.get(key)
            if track is None:
                if key in self._decided:
                    continue
                track = self._loose[key] = _PartTrack(key, d, sight, judging, loose=True)
                track.defects.append(_DefectTrack(d, sight, (None,) * 4))
            else:
                track.defects[0].add(d, sight, (None,) * 4)
            track.see(d, sight, velocity, size)
            self._number(track)
            seen.append(track)
        return seen

    def _decide(self, frame: int | None, width: int) -> list[PartVerdict]:
        """Decide the parts that left the view (``frame`` None: the run ended, every part has) or
        whose centre passed their exit line (on a frame ``width`` wide); forget those that left."""
        out = []
        for loose, book in ((False, self._parts), (True, self._loose)):
            for track_id, track in list(book.items()):
                gone = frame is None or frame - track.last_frame >= self.config.lost_frames
                exit_line = track.judging.exit_line
                crossed = exit_line is not None and (track.box[0] + track.box[2]) / 2 >= exit_line * width
                # the run ends while a part comes in: it was never seen whole, so never inspected
                # whole; the next run judges it (were it counted here, it would count twice)
                unseen = frame is None and not track.seen_whole
                if track.verdict is None and (gone or crossed) and not unseen:
                    verdict = self._verdict(track, loose)
                    track.verdict = verdict.verdict if verdict is not None else OK
                    self._decided.add(track_id)
                    if verdict is not None:
                        out.append(verdict)
                        if self.asked is not None:
                            self.asked.give.append(track_id)
                if gone:
                    del book[track_id]
                    if self.asked is not None:
                        self.asked.drop.append(track_id)
        return out

    def _verdict(self, track: _PartTrack, loose: bool) -> PartVerdict | None:
        """A part's verdict; a part, or a loose defect, seen on too few frames is no record at all."""
        if track.sightings < track.judging.min_frames:
            return None
        verdict = track.verdict_now()
        if loose and not verdict.defects:
            return None
        return verdict


def _one_box_per_part(parts: list[Detection], overlap: float = 0.6, inside: float = 0.7) -> list[Detection]:
    """The most confident of boxes on one part: boxes of different part classes on the same spot,
    or a box mostly inside another (as the detector gives while the frame cuts most of a part off).
    Parts on a belt do not lie on one another, so two such boxes are never two parts. (A few boxes
    a frame: plain arithmetic is quicker here than arrays.)"""
    if len(parts) < 2:
        return parts
    kept: list[Detection] = []
    for d in sorted(parts, key=lambda d: -d.confidence):
        area = (d.x2 - d.x1) * (d.y2 - d.y1)
        for k in kept:
            if d.x1 >= k.x2 or k.x1 >= d.x2 or d.y1 >= k.y2 or k.y1 >= d.y2:
                continue  # apart, as most parts on a belt are
            w = (d.x2 if d.x2 < k.x2 else k.x2) - (d.x1 if d.x1 > k.x1 else k.x1)
            h = (d.y2 if d.y2 < k.y2 else k.y2) - (d.y1 if d.y1 > k.y1 else k.y1)
            inter, other = w * h, (k.x2 - k.x1) * (k.y2 - k.y1)
            if inter >= overlap * (area + other - inter) or inter >= inside * min(area, other):
                break
        else:
            kept.append(d)
    return kept


def _tracker(config: PartsConfig) -> BeltTracker:
    return BeltTracker(high=config.track_thresh, min_iou=config.match_iou, buffer=30)


def _track(tracker: BeltTracker, detections: list[Detection], frame: int, size: tuple[int, int]):
    """Feed one frame's detections to a tracker; returns (track id, the detection it took, the
    track's velocity once measured)."""
    found = tracker.update(frame, [d.box for d in detections], [d.confidence for d in detections], size)
    return [(track_id, detections[i], v) for track_id, i, v in found]


def _where(d: Detection, part: Box, size: tuple[int, int]) -> tuple[float | None, ...]:
    """The defect's centre measured from each edge of its part that the frame does not cut: these
    stay put while the part moves, enters or leaves, and while the detector misses frames."""
    w, h = size
    cx, cy = (d.x1 + d.x2) / 2, (d.y1 + d.y2) / 2
    x1, y1, x2, y2 = part
    return (
        cx - x1 if x1 > EDGE_PX else None,
        cy - y1 if y1 > EDGE_PX else None,
        cx - x2 if x2 < w - EDGE_PX else None,
        cy - y2 if y2 < h - EDGE_PX else None,
    )


def _nearest(
    part: _PartTrack, d: Detection, where: tuple[float | None, ...], frame: int
) -> tuple[_DefectTrack | None, bool]:
    """The part's defect that ``d`` is: the nearest within its own size, measured from the part's
    edges both sightings saw (else from where the part's motion moved it); and whether it is a
    second box on a defect seen on this frame already (often of another class: it only votes)."""
    cx, cy = (d.x1 + d.x2) / 2, (d.y1 + d.y2) / 2
    own = max(d.x2 - d.x1, d.y2 - d.y1, 12.0)
    sx, sy = part.shift
    best, best_dist = None, float("inf")
    for track in part.defects:
        box = track.box
        if track.last_frame == frame:  # seen on this frame: only a box on the very same spot is it again
            if iou(box, d.box) >= 0.3:
                return track, True
            continue
        steps = frame - track.last_frame
        seen = track.where
        gx = _gap(where[0], seen[0], where[2], seen[2], cx - ((box[0] + box[2]) / 2 + sx * steps))
        gy = _gap(where[1], seen[1], where[3], seen[3], cy - ((box[1] + box[3]) / 2 + sy * steps))
        reach = max(box[2] - box[0], box[3] - box[1], own)
        dist = (gx * gx + gy * gy) ** 0.5
        if dist <= reach and dist < best_dist:
            best, best_dist = track, dist
    return best, False


def _gap(
    near: float | None, near_before: float | None, far: float | None, far_before: float | None, moved: float
) -> float:
    """How far a defect lies from where it was on one axis: the mean change of its distance from
    the part's two edges on that axis, from the edges both sightings saw; else ``moved``, the gap
    to where the part's motion carried it."""
    if near is not None and near_before is not None:
        if far is not None and far_before is not None:
            return ((near - near_before) + (far - far_before)) / 2
        return near - near_before
    if far is not None and far_before is not None:
        return far - far_before
    return moved


def _clipped(box: Box, size: tuple[int, int]) -> Box:
    w, h = size
    return (max(0.0, box[0]), max(0.0, box[1]), min(float(w), box[2]), min(float(h), box[3]))


def _size(image: np.ndarray | None, size: tuple[int, int] | None) -> tuple[int, int]:
    """A frame's (width, height): its image's, or as given for a frame that is elsewhere."""
    if image is not None:
        return image.shape[1], image.shape[0]
    if size is None:
        raise ValueError("a frame given without its image needs its size")
    return size


def part_picture(image: np.ndarray, box: Box, loose: bool) -> tuple[np.ndarray, tuple[int, int]]:
    """A part's picture for the record (a defect tracked alone: the defect with room around it)."""
    return context_crop(image, box) if loose else _crop(image, box)


def _crop(image: np.ndarray, box: Box, margin: int = 8) -> tuple[np.ndarray, tuple[int, int]]:
    """A copy of the part with a little room (a copy: a view would pin the whole frame in memory)."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(box[0]) - margin), max(0, int(box[1]) - margin)
    x2, y2 = min(w, int(box[2]) + margin + 1), min(h, int(box[3]) + margin + 1)
    return image[y1:y2, x1:x2].copy(), (x1, y1)


def context_crop(image: np.ndarray, box: Box, min_side: int = 160) -> tuple[np.ndarray, tuple[int, int]]:
    """A copy of a defect with room around it (its own size again on each side, at least
    ``min_side``), and where that copy's corner lies in the frame."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half_w = max(x2 - x1, min_side / 2)
    half_h = max(y2 - y1, min_side / 2)
    left, top = max(0, int(cx - half_w)), max(0, int(cy - half_h))
    right, bottom = min(w, int(cx + half_w) + 1), min(h, int(cy + half_h) + 1)
    return image[top:bottom, left:right].copy(), (left, top)
