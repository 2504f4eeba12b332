"""The disk budget on the real filesystem: old images go, images give way to free space before any
row does, and the log remembers up to when and why images were deleted."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import UTC

import numpy as np
import pytest

from inspector.errors import ConfigError
from inspector.storage.database import media_dir, open_database
from inspector.storage.queries import count_defects, query_defects
from inspector.storage.retention import DAY_S, DiskBudget, ImageKeeper, images_pruned
from inspector.storage.writer import DefectRecord, DefectWriter, RunInfo, utc_now

INFO = RunInfo("synthetic:seed=0", "/models/demo.pt", "ab" * 32, "eager", "cpu", {})


def image_aged(folder, name: str, days: float) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8" + b"x" * 4000)
    then = time.time() - days * DAY_S
    os.utime(path, (then, then))


def test_images_older_than_the_retention_are_deleted_and_the_log_says_so(db_path):
    engine = open_database(db_path)
    media = media_dir(db_path)
    for name, days in (("run-1/a.jpg", 40), ("run-1/b.jpg", 35), ("run-2/c.jpg", 20), ("run-3/d.jpg", 1)):
        image_aged(media, name, days)
    keeper = ImageKeeper(engine, media, DiskBudget(keep_days=30), print)
    assert keeper.prune_old() == 2
    assert sorted(p.relative_to(media).as_posix() for p in media.rglob("*.jpg")) == [
        "run-2/c.jpg",
        "run-3/d.jpg",
    ]
    assert not (media / "run-1").exists(), "a folder left empty goes too"
    pruned = images_pruned(engine)
    assert pruned is not None and pruned.why == "older than 30 days"
    age = (time.time() - pruned.before.replace(tzinfo=UTC).timestamp()) / DAY_S
    assert 34.9 < age < 35.1, "up to the newest image deleted"
    assert keeper.prune_old() == 0
    assert ImageKeeper(engine, media, DiskBudget(keep_days=None), print).prune_old() == 0


def test_below_the_free_space_floor_old_images_go_first_then_new_ones_are_not_saved_and_no_row_is_lost(
    db_path,
):
    engine = open_database(db_path)
    media = media_dir(db_path)
    image_aged(media, "run-9/old.jpg", 3)
    said = []
    impossible = shutil.disk_usage(db_path.parent).free / 2**20 + 10**7  # more than this disk will ever have
    writer = DefectWriter(engine, db_path, on_error=said.append, budget=DiskBudget(min_free_mb=impossible))
    writer.start()
    run_id = writer.begin_run(INFO)
    crop = np.full((40, 40, 3), 128, np.uint8)
    for frame in range(20):
        box = (1.0, 2.0, 3.0, 4.0)
        writer.log([DefectRecord(run_id, utc_now(), frame, "dent", 0.9, box, "eager", crop, (0, 0))])
    writer.end_run(run_id, 20)
    writer.stop()
    assert count_defects(engine) == 20 and all(r.image_path is None for r in query_defects(engine))
    assert writer.images_skipped == 20 and writer.pending == 0
    assert not list(media.rglob("*.jpg")), "the old image was deleted first, and no new one was written"
    assert images_pruned(engine).why.startswith("free space below")
    assert len([m for m in said if "defect images are not saved" in m]) == 1, "said once, not per image"


def test_within_the_floor_images_are_saved_as_ever(db_path):
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path, budget=DiskBudget(min_free_mb=1)).start()
    run_id = writer.begin_run(INFO)
    crop = np.full((40, 40, 3), 128, np.uint8)
    writer.log([DefectRecord(run_id, utc_now(), 1, "dent", 0.9, (1.0, 2.0, 3.0, 4.0), "eager", crop, (0, 0))])
    writer.stop()
    (row,) = query_defects(engine)
    assert row.image_path is not None and (db_path.parent / row.image_path).is_file()
    assert writer.images_skipped == 0


@pytest.mark.parametrize(("keep_days", "min_free_mb"), [(0, 500), (-1, 500), (30, -5), (float("nan"), 500)])
def test_a_budget_out_of_range_is_refused(keep_days, min_free_mb):
    with pytest.raises(ConfigError):
        DiskBudget(keep_days=keep_days, min_free_mb=min_free_mb)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="a small filesystem needs root")
def test_on_a_small_filesystem_only_the_oldest_images_go_and_just_enough_of_them(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"no tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        db_path = disk / "d.sqlite"
        engine = open_database(db_path)
        media = media_dir(db_path)
        for i in range(60):  # 6 MB of images, the oldest first
            path = media / "run-1" / f"{i:03d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(100 * 1024))
            os.utime(path, (time.time() - 1000 + i,) * 2)
        keeper = ImageKeeper(engine, media, DiskBudget(min_free_mb=3), print)
        assert keeper.free_mb() < 3
        assert keeper.may_save()
        left = sorted(p.name for p in media.rglob("*.jpg"))
        assert 3 <= keeper.free_mb() < 5.5, "back above the floor, with a little room"
        assert 30 < len(left) < 60 and left == [f"{i:03d}.jpg" for i in range(60 - len(left), 60)]
        engine.dispose()
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)
