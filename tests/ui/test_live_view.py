"""The live view draws a real frame's boxes, and drawing does not wear Python's ``None`` away."""

import sys

from inspector.capture.synthetic import SyntheticConveyor
from inspector.inference.engine import Engine
from inspector.inspection.rules import InspectionRules
from inspector.pipeline import Inspector
from inspector.ui.live_view import LiveView


def test_painting_boxes_keeps_the_reference_count_of_none(qtbot, demo_model):
    # PySide6 6.12.0 dropped a reference to None on every Qt call that returns nothing; on Python
    # 3.11, where None can be freed, the station aborted ("deallocating None") within minutes
    frame = SyntheticConveyor(seed=5, fps=0).render(40)
    result = Inspector(Engine(demo_model, imgsz=416), InspectionRules(frozenset({"dent"}))).process(frame)
    assert result.detections  # the paint below draws boxes and labels
    view = LiveView()
    qtbot.addWidget(view)
    view.resize(800, 450)
    view.show_result(result)
    view.grab()
    before = sys.getrefcount(None)
    for _ in range(300):
        view.grab()  # a full paint: frame, boxes, labels, verdict
    assert sys.getrefcount(None) - before > -300  # 6.12.0 lost tens of references a paint
