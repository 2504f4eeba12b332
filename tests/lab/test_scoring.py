import json

from inspector.capture.synthetic import SyntheticConveyor
from inspector.lab.scoring import score_detections


def _write(path, line, frames, edit=lambda dets: dets):  # perfect detections, then edited
    with path.open("w") as fh:
        for i in frames:
            truth = line.render(i).truth
            dets = [
                {"class": t.class_name, "confidence": 0.9, "x1": t.x1, "y1": t.y1, "x2": t.x2, "y2": t.y2}
                for t in truth
            ]
            fh.write(json.dumps({"frame": i, "detections": edit(dets)}) + "\n")


def test_perfect_detections_score_one(tmp_path):
    line = SyntheticConveyor(seed=8, fps=0)
    _write(tmp_path / "d.jsonl", line, range(0, 200, 10))
    s = score_detections(tmp_path / "d.jsonl", line)
    assert s.true_positives > 0 and s.precision == s.recall == 1.0
    assert s.clean_parts > 0 and s.clean_parts_flagged == 0


def test_misses_shifts_and_false_alarms_are_counted(tmp_path):
    line = SyntheticConveyor(seed=8, fps=0)

    def damage(dets):
        if not dets:
            return [{"class": "dent", "confidence": 0.5, "x1": 0, "y1": 0, "x2": 5, "y2": 5}]
        shifted = dict(dets[0], x1=dets[0]["x1"] + 400, x2=dets[0]["x2"] + 400)  # in the wrong place
        return [shifted, *dets[2:]]  # and the second one missed

    _write(tmp_path / "d.jsonl", line, range(0, 200, 10), damage)
    s = score_detections(tmp_path / "d.jsonl", line)
    assert s.precision < 1.0 and s.recall < 1.0
    d = s.as_dict()
    assert d["false_negatives"] > d["false_positives"] > 0


def test_detections_of_defects_cut_off_by_the_frame_edge_count_neither_way(tmp_path):
    line = SyntheticConveyor(seed=8, fps=0)
    frames = [i for i in range(600) if line.render(i).truncated][:10]
    assert frames, "the line always has parts entering and leaving the frame"
    with (tmp_path / "d.jsonl").open("w") as fh:
        for i in frames:
            frame = line.render(i)
            dets = [
                {"class": t.class_name, "confidence": 0.9, "x1": t.x1, "y1": t.y1, "x2": t.x2, "y2": t.y2}
                for t in frame.truth + frame.truncated
            ]
            fh.write(json.dumps({"frame": i, "detections": dets}) + "\n")
    s = score_detections(tmp_path / "d.jsonl", line)
    assert s.false_positives == 0 and s.precision == 1.0
