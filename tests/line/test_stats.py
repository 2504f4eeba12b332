"""The line's own counts of decided parts: run totals, NG by class, and the rolling yield."""

from inspector.inspection.parts import NG, OK, PartDefect, PartVerdict
from inspector.line.stats import LineStats

BOX = (0.0, 0.0, 10.0, 10.0)


def part(number: int, *classes: str, kind: str = "plate") -> PartVerdict:
    defects = tuple(PartDefect(c, 0.9, BOX, 5, 4, 2, 8) for c in classes)
    return PartVerdict(number, kind, NG if classes else OK, 0, 10, BOX, 5, defects)


def test_parts_are_counted_once_each_with_ng_by_class_and_a_rolling_yield():
    stats = LineStats(yield_window=4)
    verdicts = [part(1), part(2, "dent"), part(3, "dent", "scratch"), part(4), part(5), part(6), part(7)]
    for i, verdict in enumerate(verdicts):
        stats.add_part(verdict, at=float(i))
    stats.add_part(part(8, "stain", kind=""), at=8.0)  # a defect on no part is not a part
    assert (stats.parts, stats.parts_ok, stats.parts_ng) == (7, 5, 2)
    assert stats.ng_by_class == {"dent": 2, "scratch": 1}
    assert stats.last_part.part == 7
    assert stats.rolling_yield() == 100.0  # the last four were OK
    assert list(stats.yield_trend) == [
        (1, 100.0),
        (2, 50.0),
        (3, 100 / 3),
        (4, 50.0),
        (5, 50.0),
        (6, 75.0),
        (7, 100.0),
    ]


def test_no_part_yet_is_no_yield():
    assert LineStats().rolling_yield() is None and not LineStats().yield_trend
