import os
import sqlite3
import threading
import time
from datetime import timedelta

import numpy as np
from sqlalchemy import event

from inspector.inspection.parts import context_crop
from inspector.storage.database import media_dir, open_database
from inspector.storage.queries import DefectFilter, count_defects, list_runs, query_defects
from inspector.storage.writer import (
    BEHIND,
    LOG_RECOVERED,
    DefectRecord,
    DefectWriter,
    PartRecord,
    RunInfo,
    utc_now,
)

INFO = RunInfo("synthetic:seed=0", "/models/demo.pt", "ab" * 32, "eager", "cpu", {"imgsz": 416})


def record(run_id, frame, cls="dent", conf=0.9, image=None):
    return DefectRecord(run_id, utc_now(), frame, cls, conf, (10.0, 20.0, 30.0, 40.0), "eager", image, (5, 6))


def test_run_and_defects_round_trip_with_images(db_path):
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path).start()
    run_id = writer.begin_run(INFO)
    crop = np.full((50, 60, 3), 200, np.uint8)
    writer.log([record(run_id, 7, image=crop), record(run_id, 7, "stain", 0.5)])
    writer.end_run(run_id, frames=12)
    writer.stop()
    (run,) = list_runs(engine)
    assert (run.id, run.frames, run.source, run.settings) == (run_id, 12, INFO.source, {"imgsz": 416})
    assert run.ended_at is not None and run.ended_at >= run.started_at
    rows = query_defects(engine, order_by="confidence")
    assert [(r.class_name, r.frame_index) for r in rows] == [("dent", 7), ("stain", 7)]
    saved = db_path.parent / rows[0].image_path
    assert saved.is_file() and saved.parent.parent == media_dir(db_path)
    assert (rows[0].image_x, rows[0].image_y) == (5, 6)
    assert rows[1].image_path is None


def test_commits_are_batched_and_no_later_than_the_interval(db_path):
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path, flush_interval_s=0.25).start()
    run_id = writer.begin_run(INFO)
    commits = []
    event.listen(engine, "commit", lambda conn: commits.append(time.monotonic()))
    start = time.monotonic()
    for frame in range(60):  # 60 frames at ~200 fps
        writer.log([record(run_id, frame)])
        time.sleep(0.005)
    # every defect is visible to a separate reader within the interval (plus scheduling slack)
    deadline = time.monotonic() + 0.25 + 0.2
    while count_defects(engine) < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert count_defects(engine) == 60
    writer.stop()
    assert 1 <= len(commits) <= 6, "rows must be committed in batches, not one by one"
    assert commits[0] - start <= 0.25 + 0.1


def test_flush_waits_until_everything_is_committed(db_path):
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path, flush_interval_s=10.0).start()
    run_id = writer.begin_run(INFO)
    writer.log([record(run_id, i) for i in range(100)])
    writer.flush()
    assert count_defects(engine) == 100
    writer.stop()


def test_a_full_database_keeps_rows_in_memory_and_writes_them_later(db_path):
    """SQLite's own 'database or disk is full' (page limit reached), then space comes back."""
    engine = open_database(db_path)
    limit = {"pages": 1_000_000}

    @event.listens_for(engine, "begin")
    def _limit(conn):
        conn.exec_driver_sql(f"PRAGMA max_page_count = {limit['pages']}")

    errors: list[str] = []
    writer = DefectWriter(engine, db_path, flush_interval_s=0.05, on_error=errors.append).start()
    run_id = writer.begin_run(INFO)
    pages = sqlite3.connect(db_path).execute("PRAGMA page_count").fetchone()[0]
    limit["pages"] = pages  # no room for one more page
    writer.log([record(run_id, i) for i in range(2000)])
    deadline = time.monotonic() + 5
    while not errors and time.monotonic() < deadline:
        time.sleep(0.02)
    assert errors and "full" in errors[0] and "kept in memory" in errors[0]
    assert count_defects(engine) == 0 and writer.pending == 2000
    limit["pages"] = 1_000_000  # the operator freed space
    deadline = time.monotonic() + 5
    while count_defects(engine) < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.stop()
    assert count_defects(engine) == 2000
    assert errors[-1] == LOG_RECOVERED


def test_an_unwritable_image_folder_still_logs_the_defect(db_path):
    engine = open_database(db_path)
    media_dir(db_path).write_text("a file where the image folder should be")
    errors: list[str] = []
    writer = DefectWriter(engine, db_path, on_error=errors.append).start()
    run_id = writer.begin_run(INFO)
    writer.log([record(run_id, 1, image=np.zeros((8, 8, 3), np.uint8))])
    writer.stop()
    (row,) = query_defects(engine)
    assert row.image_path is None
    assert any("image not saved" in e for e in errors)


def test_wal_lets_a_reader_read_while_the_writer_holds_a_transaction(db_path):
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path).start()
    run_id = writer.begin_run(INFO)
    writer.log([record(run_id, 1)])
    writer.flush()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO meta (key, value) VALUES ('lock', 'held')")
        result = []
        reader = threading.Thread(target=lambda: result.append(count_defects(engine)))
        reader.start()
        reader.join(2)
        assert result == [1], "a reader must not wait for an open write transaction"
        conn.rollback()
    writer.stop()


def test_context_crop_stays_in_the_frame():
    image = np.zeros((100, 200, 3), np.uint8)
    crop, (x, y) = context_crop(image, (180.0, 90.0, 200.0, 100.0), min_side=40)
    assert (x, y) == (170, 75) and crop.shape == (25, 30, 3)
    crop, (x, y) = context_crop(image, (50.0, 40.0, 60.0, 50.0), min_side=40)
    assert crop.shape[:2] == (41, 41)


def test_filter_by_time(db_path):
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path).start()
    run_id = writer.begin_run(INFO)
    writer.log([record(run_id, 1)])
    writer.stop()
    now = utc_now()
    assert count_defects(engine, DefectFilter(since=now - timedelta(minutes=1))) == 1
    assert count_defects(engine, DefectFilter(since=now + timedelta(minutes=1))) == 0
    assert count_defects(engine, DefectFilter(until=now - timedelta(minutes=1))) == 0


def part_record(run_id, part, defects=(), image=None):
    now = utc_now()
    classes = tuple(sorted({d.class_name for d in defects}))
    return PartRecord(
        run_id,
        part,
        "plate",
        "NG" if defects else "OK",
        classes,
        now,
        now,
        now,
        3,
        40,
        20,
        (100.0, 50.0, 300.0, 200.0),
        "eager",
        tuple(defects),
        image,
        (92, 42),
    )


def test_a_part_is_one_row_and_its_defects_point_at_it_and_at_its_image(db_path):
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path).start()
    run_id = writer.begin_run(INFO)
    tracked = DefectRecord(
        run_id,
        utc_now(),
        20,
        "dent",
        0.8,
        (150.0, 80.0, 170.0, 100.0),
        "eager",
        frames=30,
        first_frame=5,
        last_frame=34,
    )
    picture = np.full((170, 220, 3), 90, np.uint8)
    writer.log_parts([part_record(run_id, 1, [tracked, record(run_id, 20, "stain")], picture)])
    writer.log_parts([part_record(run_id, 2)])
    writer.stop()
    with sqlite3.connect(db_path) as conn:
        parts = conn.execute("SELECT id, part, verdict, defect_classes, image_path, image_x FROM parts")
        parts = parts.fetchall()
        defects = conn.execute(
            "SELECT part_id, class_name, frames, first_frame, image_path, image_x FROM defects"
        )
        defects = sorted(defects.fetchall(), key=lambda r: r[1])
    (ng_id, _, _, _, image, _), ok = parts
    assert parts[0][1:4] == (1, "NG", "dent,stain") and ok[1:5] == (2, "OK", "", None)
    assert (db_path.parent / image).is_file()
    assert defects == [(ng_id, "dent", 30, 5, image, 92), (ng_id, "stain", None, None, image, 92)]


def test_an_unexpected_error_in_one_record_is_reported_and_the_rest_is_logged(db_path):
    errors: list[str] = []
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path, on_error=errors.append).start()
    run_id = writer.begin_run(INFO)
    writer.log([record(run_id, 1, image=np.zeros((0, 0, 3), np.uint8))])  # OpenCV cannot encode it
    broken = DefectRecord(run_id, utc_now(), 2, "dent", 0.9, (1.0, 2.0, 3.0), "eager")  # a box of 3
    writer.log([broken])
    writer.log([record(run_id, 3)])
    writer.stop()
    rows = query_defects(engine, order_by="frame_index", descending=False)
    assert [(r.frame_index, r.image_path) for r in rows] == [(1, None), (3, None)]
    assert any("image not saved" in e for e in errors)
    assert any("defects not written (ValueError" in e for e in errors)
    assert not list(media_dir(db_path).rglob("*.jpg")), "no partial image left"


def test_a_writer_that_falls_behind_keeps_every_row_and_lets_images_give_way(db_path):
    engine = open_database(db_path)
    said = []
    writer = DefectWriter(engine, db_path, on_error=said.append, max_queued_image_mb=1.0).start()
    run_id = writer.begin_run(INFO)
    # the first image's file is a pipe nobody reads yet: the writer thread stalls in its write, as on
    # a disk that hangs, while the line goes on handing over 0.29 MiB images
    stalled = media_dir(db_path) / f"run-{run_id}" / "cam1-f00000000-0.jpg"
    stalled.parent.mkdir(parents=True)
    os.mkfifo(stalled)
    crop = np.full((320, 320, 3), 120, np.uint8)
    writer.log([record(run_id, i, image=crop) for i in range(3)])  # 0.88 MiB waiting: all fit
    writer.log([record(run_id, 3, image=crop)])  # would pass 1 MiB: goes without its image
    writer.log_parts([part_record(run_id, 1, [record(run_id, 4, image=crop)], crop)])  # both images
    writer.log([record(run_id, 5)])  # no image: nothing to give way
    assert writer.images_behind == 3 and writer.images_skipped == 3
    with stalled.open("rb") as pipe:  # the disk answers again
        assert pipe.read()[:2] == b"\xff\xd8"  # the JPEG that was waiting
    writer.stop()
    rows = sorted(query_defects(engine), key=lambda r: r.frame_index)
    assert [r.frame_index for r in rows] == [0, 1, 2, 3, 4, 5]  # every row, images or not
    assert [r.image_path is not None for r in rows] == [True, True, True, False, False, False]
    assert all((db_path.parent / r.image_path).is_file() for r in rows[1:3])
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT part, image_path FROM parts").fetchall() == [(1, None)]
    assert said.count(BEHIND) == 1
    assert writer._queued_image_bytes == 0  # what was saved is no longer counted as waiting
