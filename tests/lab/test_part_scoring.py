"""The part scorer against records made from the line's own truth: perfect records score perfectly,
and each kind of mistake shows where it should."""

import json

from inspector.capture.synthetic import SyntheticConveyor
from inspector.lab.part_scoring import score_parts

FRAMES = 600


def _records(line: SyntheticConveyor) -> list[dict]:
    records = []
    for span in line.part_spans(FRAMES):
        best = (span.first_frame + span.last_frame) // 2
        own, defects = line.part_boxes(span.part_id, best)
        cut = [max(0.0, own.x1), own.y1, min(1280.0, own.x2), own.y2]
        records.append(
            {
                "part": span.part_id + 1,
                "kind": span.kind,
                "verdict": "NG" if defects else "OK",
                "best_frame": best,
                "box": cut,
                "defects": [
                    {"class": t.class_name, "x1": t.x1, "y1": t.y1, "x2": t.x2, "y2": t.y2, "frame": best}
                    for t in defects
                ],
            }
        )
    return records


def _write(tmp_path, records):
    path = tmp_path / "parts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_records_of_the_truth_score_perfectly(tmp_path):
    line = SyntheticConveyor(seed=12, fps=0)
    records = _records(line)
    score = score_parts(_write(tmp_path, records), SyntheticConveyor(seed=12, fps=0), FRAMES).as_dict()
    assert score["truth_parts"] == score["records"] == len(records) > 8
    assert score["count_error"] == 0 and score["missed_parts"] == score["duplicate_parts"] == []
    assert score["ng_recall"] == 1.0 and score["false_ng_rate"] == 0.0
    assert set(score["defect_recall"].values()) == {1.0} and score["duplicate_defect_rate"] == 0.0


def test_a_missed_part_a_duplicate_and_a_wrong_verdict_each_show(tmp_path):
    line = SyntheticConveyor(seed=12, fps=0)
    records = _records(line)
    missed = records.pop(0)
    good = next(r for r in records if r["verdict"] == "OK")
    bad = next(r for r in records if r["verdict"] == "NG")
    good["verdict"] = "NG"  # a false alarm
    records.append(dict(bad, part=999))  # the same part twice, its defects twice
    score = score_parts(_write(tmp_path, records), SyntheticConveyor(seed=12, fps=0), FRAMES).as_dict()
    assert score["missed_parts"] == [missed["part"] - 1] and score["count_error"] == 0
    assert score["duplicate_parts"] == [bad["part"] - 1]
    assert score["false_ng_rate"] > 0 and score["duplicate_defect_rate"] > 0
