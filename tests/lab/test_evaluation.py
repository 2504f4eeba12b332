from inspector.detections import iou
from inspector.lab.evaluation import match


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == 50 / 150
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0


def test_match_is_one_to_one_by_class_and_best_first():
    truth = [("dent", (0, 0, 10, 10)), ("dent", (20, 0, 30, 10))]
    found = [("dent", (1, 0, 11, 10)), ("dent", (0, 0, 10, 10)), ("stain", (20, 0, 30, 10))]
    m = match(truth, found)
    assert m.pairs == ((truth[0], found[1]),)
    assert (m.missed, m.extra) == (1, 2)
