"""The camera strip: a thumbnail of each camera, legible and apart however many cameras a line has."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect

from inspector.inspection.parts import NG, OK, PartVerdict
from inspector.ui.camera_strip import ONE_ROW_HEIGHT, ROW_HEIGHT, ROWS_IN_VIEW, CameraStrip
from inspector.ui.live_view import THUMBNAIL_MIN_WIDTH, LiveView

LIVE_VIEW_WIDTH = 862  # the big view's width in a 1280x800 window


def _strip(qtbot, cameras: int) -> CameraStrip:
    strip = CameraStrip()
    qtbot.addWidget(strip)
    strip.resize(LIVE_VIEW_WIDTH, ONE_ROW_HEIGHT)
    strip.set_cameras([f"c{i + 1}" for i in range(cameras)], frozenset({"plate"}))
    qtbot.waitExposed(strip)
    qtbot.waitUntil(lambda: all(v.width() > 0 for v in strip.views))
    return strip


@pytest.mark.parametrize(("cameras", "columns", "rows"), [(3, 3, 1), (4, 4, 1), (8, 4, 2), (16, 6, 3)])
def test_thumbnails_fill_even_rows_each_legible_and_none_on_another(qtbot, cameras, columns, rows):
    strip = _strip(qtbot, cameras)
    assert (strip.columns, strip.rows()) == (columns, rows)
    boxes = [QRect(v.mapTo(strip.widget(), v.rect().topLeft()), v.size()) for v in strip.views]
    assert all(box.width() >= THUMBNAIL_MIN_WIDTH for box in boxes), [b.width() for b in boxes]
    assert not any(a.intersects(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    # a row or two in view; more rows than that scroll rather than squeeze the big view
    assert strip.height() == (ONE_ROW_HEIGHT if rows == 1 else ROW_HEIGHT * ROWS_IN_VIEW + 4)
    assert (strip.widget().height() > strip.viewport().height()) == (rows > ROWS_IN_VIEW)


def test_a_thumbnail_says_the_verdict_first_and_the_big_view_the_part_first(qtbot):
    part = PartVerdict(12, "plate", NG, 0, 30, (0.0, 0.0, 10.0, 10.0), 15, ())
    thumbnail, big = LiveView(compact=True), LiveView()
    for view in (thumbnail, big):
        qtbot.addWidget(view)
        view.part_classes = frozenset({"plate"})
        view._last_part = part
    assert thumbnail._part_verdict()[0] == "NG · Part 12"
    assert big._part_verdict()[0].startswith("Part 12 · NG")
    thumbnail._last_part = PartVerdict(13, "plate", OK, 0, 30, (0.0, 0.0, 10.0, 10.0), 15, ())
    assert thumbnail._part_verdict()[0] == "OK · Part 13"
