"""The history view over a real log: the run just made, filters, paging, images and CSV export."""

import csv
from datetime import datetime, timedelta

import numpy as np
import pytest
from PySide6.QtCore import Qt
from sqlalchemy import insert

from inspector.storage.database import open_database
from inspector.storage.models import Defect
from inspector.storage.writer import DefectRecord, DefectWriter, RunInfo, utc_now
from inspector.ui.history_model import DefectTableModel
from inspector.ui.history_view import HistoryView


@pytest.fixture
def logged(db_path):
    """Two runs as the writer logs them, images included."""
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path).start()
    runs = [
        writer.begin_run(RunInfo(f"synthetic:seed={i}", "demo.pt", None, "eager", "cpu")) for i in range(2)
    ]
    crop = np.full((120, 160, 3), 90, np.uint8)
    writer.log(
        [
            DefectRecord(
                runs[i % 2],
                utc_now(),
                i,
                ("dent", "scratch", "stain")[i % 3],
                0.3 + (i % 7) / 10,
                (50.0 + i, 40.0, 90.0 + i, 80.0),
                "eager",
                crop,
                (20, 10),
            )
            for i in range(60)
        ]
    )
    writer.stop()
    yield engine, runs
    engine.dispose()


def test_lists_filters_and_previews(qtbot, logged, db_path):
    engine, runs = logged
    view = HistoryView(engine, db_path.parent)
    qtbot.addWidget(view)
    view.reload()
    assert view.model.rowCount() == 60
    view.run_combo.setCurrentIndex(view.run_combo.findData(runs[1]))
    assert view.model.rowCount() == 30
    view.class_combo.setCurrentIndex(view.class_combo.findData("dent"))
    assert view.model.rowCount() == 10  # odd i with i % 3 == 0
    view.min_conf.setValue(0.75)
    rows = [view.model.defect_at(r) for r in range(view.model.rowCount())]
    assert rows and all(r.class_name == "dent" and r.run_id == runs[1] and r.confidence >= 0.75 for r in rows)
    view.show_defect(0)
    assert view.preview.pixmap() is not None and not view.preview.pixmap().isNull()
    assert "dent" in view.detail.text()


def test_time_filter_uses_local_time(qtbot, logged, db_path):
    engine, _ = logged
    view = HistoryView(engine, db_path.parent)
    qtbot.addWidget(view)
    view.reload()
    view.since_edit.setDateTime(datetime.now() + timedelta(minutes=5))
    view.since_check.setChecked(True)
    assert view.model.rowCount() == 0
    view.since_edit.setDateTime(datetime.now() - timedelta(minutes=5))
    assert view.model.rowCount() == 60


def test_sorting_by_a_column(qtbot, logged, db_path):
    engine, _ = logged
    model = DefectTableModel(engine)
    model.refresh()
    model.sort(4, Qt.SortOrder.AscendingOrder)  # confidence
    values = [model.defect_at(r).confidence for r in range(model.rowCount())]
    assert values == sorted(values)


def test_export_writes_the_filtered_rows(qtbot, logged, db_path, tmp_path):
    engine, _ = logged
    view = HistoryView(engine, db_path.parent)
    qtbot.addWidget(view)
    view.reload()
    view.class_combo.setCurrentIndex(view.class_combo.findData("stain"))
    out = tmp_path / "stains.csv"
    view.export(out)  # the thread may finish before a waitSignal here could connect: wait on the view
    qtbot.waitUntil(lambda: "exported" in view.summary.text(), timeout=10_000)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 20 and {r["class_name"] for r in rows} == {"stain"}
    assert "20 defects exported" in view.summary.text()


def test_a_hundred_thousand_rows_are_read_a_page_at_a_time(qtbot, db_path):
    engine = open_database(db_path)
    t0 = datetime(2026, 11, 1)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO runs (id, started_at, source, model_path, backend, device, settings, frames) "
            "VALUES (1, '2026-11-01', 's', 'm', 'eager', 'cpu', '{}', 0)"
        )
        conn.execute(
            insert(Defect),
            [
                {
                    "run_id": 1,
                    "detected_at": t0 + timedelta(milliseconds=i),
                    "frame_index": i,
                    "class_name": "dent",
                    "confidence": 0.9,
                    "x1": 0,
                    "y1": 0,
                    "x2": 1,
                    "y2": 1,
                    "backend": "eager",
                }
                for i in range(100_000)
            ],
        )
    model = DefectTableModel(engine, page_size=200)
    model.refresh()
    assert model.rowCount() == 100_000
    assert model.defect_at(0).frame_index == 99_999  # newest first
    assert model.defect_at(99_999).frame_index == 0
    assert model.defect_at(50_123).frame_index == 99_999 - 50_123
    assert model.pages_fetched == 3  # only the pages that were looked at
    for row in range(50_000, 50_400):  # scrolling within cached pages reads nothing new
        model.defect_at(row)
    assert model.pages_fetched == 4
    engine.dispose()
