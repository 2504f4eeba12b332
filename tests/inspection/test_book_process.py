"""Part books in a process of their own judge exactly as books in the station's process do, with
the parts' pictures taken where the frames are; a failing process says whose parts and why."""

from dataclasses import replace

import numpy as np
import pytest

from inspector.detections import Detection
from inspector.inspection.book_process import BookProcess, BookProcessError, book_processes_for
from inspector.inspection.parts import PartBook, PartsConfig
from inspector.inspection.rules import InspectionRules

from .test_parts import RULES, det, part_frames

SIZE = (1280, 720)


def _frames(n: int) -> list[list]:
    """Two parts in a row, one with a dent, a loose scratch off them, and a part that stays in view
    with a faint dent."""
    a = part_frames(n, y=80, defect_on=range(5, 70))
    b = part_frames(n, y=300, start=-420)
    frames = [x + y for x, y in zip(a, b, strict=True)]
    for i in range(20, 40):
        frames[i].append(det("scratch", 30 + 6 * i, 620, 24, 24))
    for i in range(n - 30, n):
        frames[i] += [det("washer", 500, 500, 120, 120), det("dent", 540, 540, 20, 20, conf=0.8)]
    return frames


def _image(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8)


def _same(part):
    """A verdict with its picture as bytes, bar when it was decided (which differs by process)."""
    image = None if part.image is None else (part.image.shape, part.image.tobytes())
    return replace(part, decided_at=0.0), image, part.image_origin


def _configs():
    kinds = frozenset({"plate", "washer"})
    return [PartsConfig(kinds, camera="a"), PartsConfig(kinds, exit_line=0.6, camera="b")]


def test_books_in_a_process_judge_as_books_here_and_take_their_pictures_from_the_frames_here():
    frames, configs = _frames(140), _configs()
    here = [PartBook(c) for c in configs]
    process = BookProcess(configs, keep_images=True)
    try:
        there = process.books
        strict = InspectionRules(frozenset({"scratch", "dent"}), 0.85)  # the dent's 0.8 no longer counts
        out_here, out_there = [], []
        for i, dets in enumerate(frames):
            image, rules = _image(i), (RULES if i < 90 else strict)
            if i == 60:  # a recipe: new parts need more frames
                for book in (*here, *there):
                    book.config = replace(book.config, min_frames=5)
            for book in there:
                book.ask(i, dets, rules, SIZE, 1000.0 + i)  # every camera's frame sent before any answer
            for mine, theirs in zip(here, there, strict=True):
                out_here.append(mine.update(i, dets, rules, image, 1000.0 + i))
                out_there.append(theirs.update(i, dets, rules, image, 1000.0 + i))
        once = [b.judge_once(140, frames[10], RULES, _image(140), 1140.0) for b in (here[0], there[0])]
        ends = [[b.flush() for b in books] for books in (here, there)]
        assert [v for _, v in out_there] == [v for _, v in out_here], "the parts in view, frame by frame"
        decided_here = [p for d, _ in out_here for p in d] + [p for e in ends[0] for p in e]
        decided_there = [p for d, _ in out_there for p in d] + [p for e in ends[1] for p in e]
        assert [_same(p) for p in decided_there] == [_same(p) for p in decided_here]
        assert len(decided_here) >= 5 and {p.camera for p in decided_here} == {"a", "b"}
        assert {p.verdict for p in ends[0][0]} == {"OK"}, "the washer's dent is too faint for the new rules"
        assert all(p.image is not None for p in decided_here) and any(p.ng for p in decided_here)
        assert any(not p.kind for p in decided_here), "a loose defect, pictured with room around it"
        assert _same(once[1]) == _same(once[0]) and once[0].image is not None
        assert [len(b.pictures) for b in there] == [0, 0], "no picture kept once its part is gone"
    finally:
        process.close()
    process.close()  # twice is harmless


def test_a_book_process_keeps_no_pictures_for_a_run_that_keeps_none():
    frames = _frames(90)
    process = BookProcess(_configs()[:1], keep_images=False)
    try:
        (book,) = process.books
        decided = [
            p for i, d in enumerate(frames) for p in book.update(i, d, RULES, _image(0), 1000.0 + i)[0]
        ]
        decided += book.flush()
    finally:
        process.close()
    assert decided and all(p.image is None for p in decided) and len(book.pictures) == 0


def test_a_failing_book_process_says_whose_parts_and_why():
    process = BookProcess(_configs(), keep_images=True)
    try:
        a, b = process.books
        broken = Detection(4, "plate", 0.9, "left", 0.0, 10.0, 10.0)  # type: ignore[arg-type]
        with pytest.raises(
            BookProcessError, match=r"parts of b failed: ValueError: could not .*\(belt_tracker.py:\d+\)"
        ):
            b.update(0, [broken], RULES, _image(0))
        assert a.update(0, [], RULES, _image(0)) == ([], []), "the process goes on for the others"
        process._process.kill()
        process._process.join()
        with pytest.raises(
            BookProcessError, match=r"process following the parts of a, b ended \(exit status -9\)"
        ):
            a.update(1, [], RULES, _image(1))
    finally:
        process.close()


@pytest.mark.parametrize(
    ("cameras", "asked", "cpus", "processes"),
    [(1, None, 16, 0), (16, None, 16, 0), (31, None, 16, 0), (32, None, 16, 2), (64, None, 16, 4),
     (64, None, 8, 2), (64, None, 2, 0), (3, 2, 2, 2), (2, 5, 16, 2), (64, 0, 16, 0)],
)  # fmt: skip
def test_a_line_of_many_cameras_follows_its_parts_in_processes_unless_told(cameras, asked, cpus, processes):
    assert book_processes_for(cameras, asked, cpus) == processes
