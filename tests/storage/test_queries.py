import csv
from datetime import datetime, timedelta

import pytest

from inspector.storage.database import open_database
from inspector.storage.queries import DefectFilter, class_counts, count_defects, export_csv, query_defects
from inspector.storage.writer import DefectRecord, DefectWriter, RunInfo

T0 = datetime(2026, 11, 23, 8, 0, 0)


@pytest.fixture
def filled(db_path):
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path).start()
    runs = [writer.begin_run(RunInfo(f"src{i}", "m.pt", None, "eager", "cpu")) for i in range(2)]
    classes = ["scratch", "dent", "stain", "missing_hole"]
    writer.log(
        [
            DefectRecord(
                runs[i % 2],
                T0 + timedelta(seconds=i),
                i,
                classes[i % 4],
                (i % 10) / 10,
                (i, 0, i + 5, 5),
                "eager",
            )
            for i in range(250)
        ]
    )
    writer.stop()
    return engine, runs


def test_filters_combine(filled):
    engine, runs = filled
    assert count_defects(engine) == 250
    assert count_defects(engine, DefectFilter(run_id=runs[0])) == 125
    assert count_defects(engine, DefectFilter(class_name="dent")) == 63  # i % 4 == 1
    assert count_defects(engine, DefectFilter(min_confidence=0.85)) == 25  # i % 10 == 9
    window = DefectFilter(since=T0 + timedelta(seconds=10), until=T0 + timedelta(seconds=19))
    assert count_defects(engine, window) == 10
    both = DefectFilter(run_id=runs[1], class_name="dent")
    assert {r.frame_index % 4 for r in query_defects(engine, both, limit=1000)} == {1}
    assert class_counts(engine) == {"scratch": 63, "dent": 63, "stain": 62, "missing_hole": 62}


def test_pages_are_disjoint_sorted_and_complete(filled):
    engine, _ = filled
    seen = []
    for offset in range(0, 250, 100):
        page = query_defects(engine, order_by="frame_index", descending=False, limit=100, offset=offset)
        seen += [r.frame_index for r in page]
    assert seen == list(range(250))
    newest = query_defects(engine, limit=3)
    assert [r.frame_index for r in newest] == [249, 248, 247]
    by_conf = query_defects(engine, order_by="confidence", limit=250)
    assert [r.confidence for r in by_conf] == sorted((r.confidence for r in by_conf), reverse=True)
    with pytest.raises(ValueError, match="cannot sort"):
        query_defects(engine, order_by="x1; DROP TABLE runs")


def test_csv_export_writes_the_filtered_rows_with_progress(filled, tmp_path):
    engine, _ = filled
    out = tmp_path / "dents.csv"
    progress = []
    n = export_csv(
        engine, out, DefectFilter(class_name="dent"), progress=lambda d, t: progress.append((d, t)), chunk=20
    )
    rows = list(csv.DictReader(out.open()))
    assert n == len(rows) == 63
    assert {r["class_name"] for r in rows} == {"dent"}
    assert rows[0]["detected_at"] == "2026-11-23T08:00:01.000Z"
    assert [int(r["frame_index"]) for r in rows] == sorted(int(r["frame_index"]) for r in rows)
    assert progress[-1] == (63, 63) and len(progress) == 4
