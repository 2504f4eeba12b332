import pytest

from inspector.detections import Detection
from inspector.inspection.rules import InspectionRules, parse_roi


def det(name="scratch", conf=0.9, box=(10, 10, 20, 20)):
    return Detection(0, name, conf, *box)


def test_no_detection_passes():
    assert InspectionRules().evaluate([]).passed


def test_class_filter_confidence_and_roi():
    rules = InspectionRules(frozenset({"dent", "stain"}), min_confidence=0.5, roi=(0, 0, 100, 100))
    keep = det("dent", 0.6, (40, 40, 60, 60))
    verdict = rules.evaluate(
        [
            keep,
            det("scratch", 0.99, (40, 40, 60, 60)),  # class not counted
            det("stain", 0.4, (40, 40, 60, 60)),  # too unsure
            det("stain", 0.9, (150, 150, 170, 170)),  # outside the region
        ]
    )
    assert not verdict.passed
    assert verdict.defects == (keep,)


def test_roi_uses_the_box_centre():
    rules = InspectionRules(roi=(0, 0, 100, 100))
    assert not rules.evaluate([det(box=(90, 90, 108, 108))]).passed  # centre 99,99 inside
    assert rules.evaluate([det(box=(95, 95, 125, 125))]).passed  # centre 110,110 outside


def test_bad_rules():
    with pytest.raises(ValueError):
        InspectionRules(min_confidence=1.5)
    with pytest.raises(ValueError, match="empty"):
        InspectionRules(roi=(10, 10, 5, 50))
    assert parse_roi("1,2,3,4") == (1, 2, 3, 4)
    with pytest.raises(ValueError, match="four numbers"):
        parse_roi("1,2,3")
