"""The history view over a real log: parts and defects, filters, paging, images and CSV export."""

import csv
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QStandardPaths, Qt
from sqlalchemy import insert

from inspector.storage.database import open_database
from inspector.storage.models import Defect
from inspector.storage.retention import DAY_S, DiskBudget, ImageKeeper
from inspector.storage.writer import DefectRecord, DefectWriter, PartRecord, RunInfo, utc_now
from inspector.ui.history_model import defect_model
from inspector.ui.history_view import LIVE_REFRESH_MS, HistoryView, export_folder
from inspector.ui.live_view import CLASS_COLOURS

PART_IMAGE = np.full(
    (160, 220, 3), 90, np.uint8
)  # a grey part at frame (100, 50): boxes are all that is not grey
PART_DEFECTS = {1: ["scratch"], 2: [], 3: ["dent", "scratch"], 4: [], 5: ["stain"], 6: []}


def part_record(run_id: int, part: int, classes: list[str]) -> PartRecord:
    now = utc_now()
    defects = tuple(
        DefectRecord(
            run_id,
            now,
            30,
            c,
            0.8,
            (120.0 + 60 * i, 80.0, 150.0 + 60 * i, 110.0),
            "eager",
            frames=12,
            first_frame=20,
            last_frame=31,
        )
        for i, c in enumerate(classes)
    )
    verdict = "NG" if classes else "OK"
    return PartRecord(
        run_id,
        part,
        "plate",
        verdict,
        tuple(sorted(classes)),
        now,
        now,
        now,
        20,
        40,
        30,
        (108.0, 58.0, 312.0, 202.0),
        "eager",
        defects,
        PART_IMAGE if classes else None,
        (100, 50),
    )


@pytest.fixture
def logged(db_path):
    """Two runs of per-frame defects and a third of parts, as the writer logs them, images included."""
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path).start()
    runs = [
        writer.begin_run(RunInfo(f"synthetic:seed={i}", "demo.pt", None, "eager", "cpu")) for i in range(3)
    ]
    writer.log_parts([part_record(runs[2], part, classes) for part, classes in PART_DEFECTS.items()])
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


def defects_view(qtbot, engine, db_path) -> HistoryView:
    view = HistoryView(engine, db_path.parent)
    qtbot.addWidget(view)
    view.reload()
    view.show_combo.setCurrentIndex(view.show_combo.findData("defects"))
    return view


def test_parts_view_filters_and_shows_a_part_with_its_defects_on_its_image(qtbot, logged, db_path):
    engine, runs = logged
    view = HistoryView(engine, db_path.parent)
    qtbot.addWidget(view)
    view.resize(1200, 600)
    view.show()
    view.reload()
    assert view.showing_parts and view.model.rowCount() == 6 and view.summary.text() == "6 parts match"
    label = view.run_combo.itemText(view.run_combo.findData(runs[2]))
    assert label.startswith(f"run {runs[2]} · ") and label.endswith("· demo.pt · eager · 6 parts")
    assert not view.min_conf.isVisible() and view.verdict_combo.isVisible()
    view.verdict_combo.setCurrentIndex(view.verdict_combo.findData("NG"))
    assert {view.model.row_at(r).part for r in range(view.model.rowCount())} == {1, 3, 5}
    view.class_combo.setCurrentIndex(view.class_combo.findData("scratch"))
    shown = [view.model.row_at(r) for r in range(view.model.rowCount())]
    assert sorted(p.part for p in shown) == [1, 3]
    row = next(r for r in range(view.model.rowCount()) if view.model.row_at(r).part == 3)
    verdict_column = [c.title for c in view.model.columns].index("Verdict")
    assert view.model.data(view.model.index(row, verdict_column)) == "NG"
    view.table.selectRow(row)
    assert "Part 3 · NG" in view.detail.text() and "dent" in view.detail.text()
    image = view.preview.pixmap().toImage()
    scale = image.width() / PART_IMAGE.shape[1]
    for i, name in enumerate(["dent", "scratch"]):  # each box drawn where the defect lies on the part
        colour = CLASS_COLOURS[view.class_ids.get(name, 0) % len(CLASS_COLOURS)]
        x = round((120 + 60 * i - 100) * scale)
        y = round((95 - 50) * scale)
        assert image.pixelColor(x, y).name() == colour.lower(), name
    view.verdict_combo.setCurrentIndex(view.verdict_combo.findData("OK"))
    view.class_combo.setCurrentIndex(0)
    assert view.preview.pixmap().isNull(), "a new filter clears the last part's picture"
    view.table.selectRow(0)
    assert view.preview.text() == "OK parts keep no image"


def shown_view(qtbot, engine, db_path) -> HistoryView:
    """The history on screen, filled from the log (parts, newest first)."""
    view = HistoryView(engine, db_path.parent)
    qtbot.addWidget(view)
    view.show()
    view.reload()
    return view


def test_parts_the_line_logs_appear_while_shown_and_the_part_looked_at_stays(qtbot, logged, db_path):
    engine, runs = logged
    view = shown_view(qtbot, engine, db_path)
    view.table.selectRow(2)
    looked_at = view.model.row_at(2)
    assert f"Part {looked_at.part} ·" in view.detail.text()
    writer = DefectWriter(engine, db_path).start()
    writer.log_parts([part_record(runs[2], 7, ["dent"]), part_record(runs[2], 8, [])])
    writer.stop()
    qtbot.waitUntil(lambda: view.model.rowCount() == 8, timeout=3 * LIVE_REFRESH_MS)  # no filter touched
    assert view.summary.text() == "8 parts match"
    row = view.table.currentIndex().row()
    assert row == 4, "newest first: the two new parts came in above it"
    assert view.model.row_at(row).id == looked_at.id and f"Part {looked_at.part} ·" in view.detail.text()
    view.hide()
    writer = DefectWriter(engine, db_path).start()
    writer.log_parts([part_record(runs[2], 9, [])])
    writer.stop()
    qtbot.wait(2 * LIVE_REFRESH_MS)
    assert view.model.rowCount() == 8, "hidden, it reads nothing"


def test_parts_export_writes_the_parts_shown(qtbot, logged, db_path, tmp_path):
    engine, _ = logged
    view = HistoryView(engine, db_path.parent)
    qtbot.addWidget(view)
    view.reload()
    view.verdict_combo.setCurrentIndex(view.verdict_combo.findData("NG"))
    out = tmp_path / "ng.csv"
    view.export(out)
    qtbot.waitUntil(lambda: "exported" in view.summary.text(), timeout=10_000)
    rows = list(csv.DictReader(out.open()))
    assert sorted((r["part"], r["defect_classes"], r["defects"]) for r in rows) == [
        ("1", "scratch", "1"),
        ("3", "dent,scratch", "2"),
        ("5", "stain", "1"),
    ]
    assert "3 parts exported" in view.summary.text()


def test_defects_view_groups_defects_by_their_part(qtbot, logged, db_path):
    engine, runs = logged
    view = defects_view(qtbot, engine, db_path)
    view.run_combo.setCurrentIndex(view.run_combo.findData(runs[2]))
    part_column = [c.title for c in view.model.columns].index("Part")
    view.table.sortByColumn(part_column, Qt.SortOrder.AscendingOrder)
    parts = [view.model.row_at(r).part.part for r in range(view.model.rowCount())]
    assert parts == [1, 3, 3, 5]
    view.table.selectRow(1)
    assert "part 3 (NG)" in view.detail.text() and "seen on 12 frames (20 to 31)" in view.detail.text()


def test_lists_filters_and_previews(qtbot, logged, db_path):
    engine, runs = logged
    view = defects_view(qtbot, engine, db_path)
    assert view.model.rowCount() == 64
    view.run_combo.setCurrentIndex(view.run_combo.findData(runs[1]))
    assert view.model.rowCount() == 30
    view.class_combo.setCurrentIndex(view.class_combo.findData("dent"))
    assert view.model.rowCount() == 10  # odd i with i % 3 == 0
    view.min_conf.setValue(0.75)
    rows = [view.model.row_at(r) for r in range(view.model.rowCount())]
    assert rows and all(r.class_name == "dent" and r.run_id == runs[1] and r.confidence >= 0.75 for r in rows)
    view.show_row(0)
    assert view.preview.pixmap() is not None and not view.preview.pixmap().isNull()
    assert "dent" in view.detail.text()


def test_time_filter_uses_local_time(qtbot, logged, db_path):
    engine, _ = logged
    view = defects_view(qtbot, engine, db_path)
    view.since_edit.setDateTime(datetime.now() + timedelta(minutes=5))
    view.since_check.setChecked(True)
    assert view.model.rowCount() == 0
    view.since_edit.setDateTime(datetime.now() - timedelta(minutes=5))
    assert view.model.rowCount() == 64


def test_sorting_by_a_column(qtbot, logged, db_path):
    engine, _ = logged
    model = defect_model(engine)
    model.refresh()
    model.sort([c.title for c in model.columns].index("Confidence"), Qt.SortOrder.AscendingOrder)
    values = [model.row_at(r).confidence for r in range(model.rowCount())]
    assert values == sorted(values)


def _arrow_points_up(view: HistoryView) -> bool:
    """Whether the sort arrow drawn in the first column's header is ▲ (narrow on top): the arrow is
    the rightmost run of columns with dark pixels, apart from the title by an empty column."""
    header = view.table.horizontalHeader()
    image = header.grab().toImage()

    def dark(x: int) -> list[int]:
        return [y for y in range(image.height()) if image.pixelColor(x, y).lightness() < 100]

    xs = [x for x in range(header.sectionSize(0) - 1, 0, -1) if dark(x)]
    arrow = [xs[0]]
    for x in xs[1:]:
        if x != arrow[-1] - 1:
            break
        arrow.append(x)
    rows = [sum(image.pixelColor(x, y).lightness() < 100 for x in arrow) for y in range(image.height())]
    drawn = [n for n in rows if n]
    assert len(drawn) >= 2, "an arrow is drawn"
    return drawn[0] < drawn[-1]


def test_the_sort_arrow_points_up_for_smallest_first_and_down_for_newest_first(qtbot, logged, db_path):
    engine, _ = logged
    view = shown_view(qtbot, engine, db_path)
    assert not _arrow_points_up(view), "newest first (the default): ▼"
    view.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    first, last = view.model.row_at(0), view.model.row_at(view.model.rowCount() - 1)
    assert first.decided_at <= last.decided_at and _arrow_points_up(view)


def test_export_writes_the_filtered_rows(qtbot, logged, db_path, tmp_path):
    engine, runs = logged
    view = defects_view(qtbot, engine, db_path)
    view.run_combo.setCurrentIndex(view.run_combo.findData(runs[0]))
    view.class_combo.setCurrentIndex(view.class_combo.findData("stain"))
    out = tmp_path / "stains.csv"
    view.export(out)  # the thread may finish before a waitSignal here could connect: wait on the view
    qtbot.waitUntil(lambda: "exported" in view.summary.text(), timeout=10_000)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 10 and {r["class_name"] for r in rows} == {"stain"}
    assert "10 defects exported" in view.summary.text()


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
    model = defect_model(engine)
    model.refresh()
    assert model.rowCount() == 100_000
    assert model.row_at(0).frame_index == 99_999  # newest first
    assert model.row_at(99_999).frame_index == 0
    assert model.row_at(50_123).frame_index == 99_999 - 50_123
    assert model.pages_fetched == 3  # only the pages that were looked at
    for row in range(50_000, 50_400):  # scrolling within cached pages reads nothing new
        model.row_at(row)
    assert model.pages_fetched == 4
    engine.dispose()


def test_export_is_offered_in_the_documents_folder_not_where_the_program_started(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    folder = export_folder()
    assert folder.is_absolute() and folder != tmp_path
    assert folder in (
        Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)),
        Path.home(),
    )


def test_an_image_the_disk_budget_deleted_is_shown_as_pruned_not_missing(qtbot, logged, db_path):
    engine, _ = logged
    media = db_path.parent / "defects-images"
    time.sleep(0.2)
    keeper = ImageKeeper(engine, media, DiskBudget(keep_days=0.1 / DAY_S), print)  # a tenth of a second
    assert keeper.prune_old() > 0 and not list(media.rglob("*.jpg"))
    view = defects_view(qtbot, engine, db_path)
    view.table.selectRow(0)
    assert view.preview.text().startswith("image pruned: the disk budget deleted the images up to ")
    assert "(older than 1.15741e-06 days); the record is kept" in view.preview.text()
