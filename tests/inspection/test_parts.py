"""Parts and their defects across frames, with ultralytics' own ByteTrack, on detections drawn as a
moving camera would see them."""

import numpy as np
import pytest

from inspector.detections import Detection
from inspector.inspection.parts import NG, OK, PartBook, PartsConfig
from inspector.inspection.rules import InspectionRules

NAMES = {0: "scratch", 1: "dent", 4: "plate", 5: "washer"}
RULES = InspectionRules(frozenset({"scratch", "dent"}), 0.5)
IMAGE = np.zeros((720, 1280, 3), np.uint8)


def det(name: str, x1: float, y1: float, w: float, h: float, conf: float = 0.9) -> Detection:
    cls = next(i for i, n in NAMES.items() if n == name)
    return Detection(cls, name, conf, max(0.0, x1), y1, min(1280.0, x1 + w), y1 + h)  # cut by the frame


def run(book: PartBook, frames: list[list[Detection]]):
    decided, views = [], []
    for i, dets in enumerate(frames):
        done, view = book.update(i, dets, RULES, IMAGE, wall_time=1000.0 + i)
        decided += done
        views.append(view)
    return decided, views


def part_frames(n: int, speed: float = 12.0, start: float = 0.0, y: float = 200.0, defect_on=range(0)):
    """A plate 200 px wide moving right; a dent on it (at a fixed spot of the plate) on the frames
    in ``defect_on``."""
    frames = []
    for i in range(n):
        x = start + speed * i
        dets = [det("plate", x, y, 200, 150)] if -200 < x < 1280 else []
        if i in defect_on and x < 1240:
            dets.append(det("dent", x + 120, y + 40, 30, 30, conf=0.8))
        frames.append(dets)
    return frames


def book(**changes) -> PartBook:
    return PartBook(PartsConfig(frozenset({"plate", "washer"}), **changes))


def test_one_part_one_verdict_and_one_record_per_physical_defect():
    frames = part_frames(130, defect_on=set(range(10, 60)) - {20, 21, 33})  # the detector misses some frames
    frames[30].append(det("scratch", 90 + 12 * 30, 260, 20, 20))  # a one-frame false alarm on the part
    decided, views = run(book(), frames)
    assert len(decided) == 1
    part = decided[0]
    assert (part.verdict, part.kind, part.first_frame) == (NG, "plate", 0)
    assert [d.class_name for d in part.defects] == ["dent"], "the false alarm was seen on one frame only"
    dent = part.defects[0]
    assert dent.frames == 47 and (dent.first_frame, dent.last_frame) == (10, 59)
    assert dent.seen_at == 1000.0 + dent.frame
    assert (part.first_seen, part.last_seen) == (1000.0, 1000.0 + part.last_frame)
    # the part's picture: the first frame showing all of it, a copy; the dent placed on it
    assert part.best_frame == 0 and part.image is not None and part.image.base is None
    assert dent.pictured == pytest.approx((120, 240, 150, 270))
    assert part.decided_at > 0 and part.last_frame < 107 <= len(views), "decided once it left the view"
    assert all(v[0].part == part.part for v in views if v)
    assert views[80][0].defects == 1 and views[80][0].verdict is None


def test_good_and_bad_parts_side_by_side_keep_their_own_defects():
    a = part_frames(170, y=100, defect_on=range(5, 80))
    b = part_frames(170, y=450, start=-300)
    decided, _ = run(book(), [x + y for x, y in zip(a, b, strict=True)])
    assert sorted((p.verdict, len(p.defects)) for p in decided) == [(NG, 1), (OK, 0)]
    assert len({p.part for p in decided}) == 2


def test_an_exit_line_decides_at_once_and_a_part_is_never_counted_twice():
    frames = part_frames(140, defect_on=range(5, 40))
    decided, views = run(book(exit_line=0.5), frames)
    assert len(decided) == 1 and decided[0].verdict == NG
    # its centre passes x = 640 when 12 i + 100 >= 640: frame 45
    assert decided[0].last_frame == 45
    assert views[60][0].verdict == NG, "still drawn, with its badge, until it leaves"


def test_a_part_the_detector_loses_for_a_few_frames_stays_one_part():
    frames = part_frames(130, defect_on=range(5, 100))
    for i in range(40, 46):
        frames[i] = [d for d in frames[i] if d.class_name != "plate"]  # the part itself is missed
    decided, _ = run(book(), frames)
    assert len(decided) == 1 and decided[0].defects[0].frames >= 80


def test_without_a_part_class_each_defect_is_its_own_record():
    frames = part_frames(130, defect_on=range(5, 90))
    for dets in frames:
        dets[:] = [d for d in dets if d.class_name != "plate"]
    frames[50].append(det("scratch", 700, 600, 20, 20))  # one frame: not a defect yet
    decided, _ = run(PartBook(PartsConfig(frozenset())), frames)
    assert len(decided) == 1
    assert decided[0].kind == "" and [d.class_name for d in decided[0].defects] == ["dent"]


def test_the_end_of_a_run_decides_what_is_still_in_view():
    b = book()
    decided, _ = run(b, part_frames(30, defect_on=range(0, 30)))
    assert decided == []
    flushed = b.flush()
    assert [(p.verdict, p.last_frame) for p in flushed] == [(NG, 29)]
    assert b.flush() == []


def test_a_part_entering_the_view_keeps_its_defect_while_its_box_grows():
    # the plate enters from the left: its box is cut by the frame until frame 17, while the dent on
    # it moves with it; the detector sees the dent only every third frame
    frames = part_frames(60, start=-200, defect_on=range(0, 60, 3))
    frames = [[d for d in f if d.class_name != "dent" or d.x1 > 0] for f in frames]
    b = book()
    run(b, frames)
    (part,) = b.flush()
    assert [(d.class_name, d.frames) for d in part.defects] == [("dent", 17)]  # frames 9, 12, .., 57


def test_two_defects_side_by_side_stay_two_and_a_second_box_on_one_only_votes():
    frames = part_frames(130, defect_on=range(5, 90))
    for i, dets in enumerate(frames[5:90], start=5):
        x = 12 * i
        dets.append(det("dent", x + 80, 240, 30, 30, conf=0.7))  # a second dent, 40 px to the left
        if i % 2:
            dets.append(det("scratch", x + 121, 241, 29, 29, conf=0.6))  # the first dent, read as a scratch
    decided, _ = run(book(), frames)
    (part,) = decided
    assert sorted((d.class_name, d.frames) for d in part.defects) == [("dent", 85), ("dent", 85)]


def test_a_part_boxed_as_two_part_classes_at_once_is_one_part():
    frames = part_frames(130)
    for i, dets in enumerate(frames):
        if dets and i % 2:  # every other frame the detector also calls the plate a washer
            x1, y1, x2, y2 = dets[0].box
            dets.append(Detection(5, "washer", 0.6, x1 + 3, y1, x2, y2 - 2))
    decided, _ = run(book(), frames)
    assert [(p.part, p.kind) for p in decided] == [(1, "plate")]


def test_the_run_ends_while_a_part_comes_in_it_is_left_for_the_next_run():
    frames = part_frames(125)  # the first plate leaves on the right...
    for i, dets in enumerate(frames[105:], start=105):  # ...while the next comes in on the left
        dets.append(det("plate", -180 + 6 * (i - 105), 400, 200, 150))
    for k, dets in enumerate(frames[120:]):  # and a third, whole, in view for the run's last frames
        dets.append(det("plate", 500 + 12 * k, 40, 200, 150))
    parts = book()
    decided, _ = run(parts, frames)
    at_end = parts.flush()
    assert [p.first_frame for p in decided] == [0], "the first left the view"
    assert [p.first_frame for p in at_end] == [120], "seen whole: judged; coming in, never whole: not"


def test_a_box_that_flickers_for_two_frames_takes_no_part_number():
    frames = part_frames(170)
    for i in (5, 6):  # a false plate, far from the real one, on two frames
        frames[i].append(det("plate", 900, 500, 120, 100, conf=0.6))
    b = part_frames(170, start=-400, y=450)
    decided, views = run(book(), [x + y for x, y in zip(frames, b, strict=True)])
    assert sorted(p.part for p in decided) == [1, 2], "numbered as confirmed, without gaps"
    assert not any(v.box[:2] == (900, 500) for view in views for v in view), "never drawn as a part"


def test_a_recipe_changed_while_parts_are_in_view_applies_from_the_next_part_on():
    # a plate with a dent is in view when the recipe stops counting dents; a second one, with a
    # dent too, comes in afterwards: the first is judged wholly by the old recipe, the second by
    # the new one, and each says which
    first = part_frames(170, y=100, defect_on=range(5, 120))
    second = part_frames(170, y=450, start=-600, defect_on=range(60, 150))
    frames = [x + y for x, y in zip(first, second, strict=True)]
    scratches_only = InspectionRules(frozenset({"scratch"}), 0.5)
    b = book(min_frames=3)
    b.config = PartsConfig(frozenset({"plate", "washer"}), min_frames=3, recipe="A")
    decided = []
    for i, dets in enumerate(frames):
        if i == 30:  # the first plate is in view, the second not yet (it enters at frame 34)
            b.config = PartsConfig(frozenset({"plate", "washer"}), min_frames=3, recipe="B")
        done, _ = b.update(i, dets, RULES if i < 30 else scratches_only, IMAGE, 1000.0 + i)
        decided += done
    by_recipe = {p.recipe: p for p in decided}
    assert sorted(by_recipe) == ["A", "B"]
    assert by_recipe["A"].verdict == NG and by_recipe["A"].defects[0].frames > 60, "judged wholly by A"
    assert by_recipe["B"].verdict == OK and not by_recipe["B"].defects


def test_a_triggered_inspection_judges_the_part_under_the_camera_on_one_frame():
    b = book()
    dets = [det("plate", 400, 200, 300, 200), det("dent", 500, 260, 30, 30), det("scratch", 900, 100, 20, 20)]
    first = b.judge_once(7, dets, RULES, IMAGE, 1007.0)
    assert (first.part, first.kind, first.verdict, first.first_frame, first.last_frame) == (
        1,
        "plate",
        NG,
        7,
        7,
    )
    assert [d.class_name for d in first.defects] == ["dent"], "the scratch lies off the part"
    assert first.defects[0].frames == 1 and first.image is not None
    # in frame pixels, as a tracked part's defects are: the record's image origin places them on it
    assert first.defects[0].pictured == (500, 260, 530, 290) and first.image_origin == (392, 192)
    empty = b.judge_once(8, [], RULES, IMAGE, 1008.0)
    assert (empty.part, empty.kind, empty.verdict, empty.box) == (2, "part", OK, (0.0, 0.0, 1280.0, 720.0))
