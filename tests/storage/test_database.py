"""Opening the defect log: new files, the first release's files upgraded in place, files refused."""

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from inspector.storage.database import StorageError, _migrate, one_station, open_database, open_read_only
from inspector.storage.models import SCHEMA_VERSION, Base
from inspector.storage.queries import DefectFilter, count_defects, list_runs, query_defects
from inspector.storage.writer import DefectWriter, RunInfo

# schema1.sqlite: two runs logged by the first release (9bb77c5), `run --headless --source
# synthetic:fps=0,seed=3`, 8 frames with images and 40 with --no-images
DATA = Path(__file__).with_name("data")


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def same_schema_as_the_models(engine) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


@pytest.fixture
def schema1(tmp_path: Path) -> Path:
    shutil.copytree(DATA, tmp_path, dirs_exist_ok=True)
    return tmp_path / "schema1.sqlite"


def test_a_first_release_database_is_upgraded_in_place_after_a_backup(schema1):
    before = rows(schema1, "SELECT * FROM defects ORDER BY id")
    runs_before = rows(schema1, "SELECT * FROM runs ORDER BY id")
    assert len(before) == 103 and rows(schema1, "SELECT value FROM meta") == [("1",)]
    engine = open_database(schema1)
    assert same_schema_as_the_models(engine) == []
    assert rows(schema1, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
    # every row kept, each a defect on no part, one frame's sighting
    after = rows(schema1, "SELECT *, part_id, frames, camera FROM defects ORDER BY id")
    assert [r[: len(before[0])] for r in after] == before
    assert all(r[-3:] == (None, None, "cam1") for r in after), "seen by the line's only camera"
    assert rows(schema1, "SELECT * FROM runs ORDER BY id") == runs_before
    assert count_defects(engine) == 103 and [r.frames for r in list_runs(engine)] == [8, 40]
    # the images it names are still where it says
    imaged = query_defects(engine, DefectFilter(run_id=1), limit=200)
    assert len(imaged) == 16 and all((schema1.parent / d.image_path).is_file() for d in imaged)
    # the backup is the untouched file
    backup = schema1.with_name("schema1.schema-1-backup.sqlite")
    assert rows(backup, "SELECT * FROM defects ORDER BY id") == before
    assert rows(backup, "SELECT value FROM meta") == [("1",)]
    engine.dispose()
    open_database(schema1).dispose()  # a second open finds it current: no second backup
    assert not schema1.with_name("schema1.schema-1-backup-2.sqlite").exists()


def test_the_migrations_from_nothing_give_the_tables_a_new_database_gets(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'migrated.sqlite'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    _migrate(engine)  # from an empty history: schema 1, then each migration
    assert same_schema_as_the_models(engine) == []
    assert same_schema_as_the_models(open_database(tmp_path / "new.sqlite")) == []


def test_a_newer_schema_is_refused_and_left_alone(db_path):
    open_database(db_path).dispose()
    newer = str(SCHEMA_VERSION + 1)
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (newer,))
    with pytest.raises(StorageError, match=f"schema {newer}, newer than this inspector"):
        open_database(db_path)
    assert rows(db_path, "SELECT value FROM meta") == [(newer,)]
    assert not list(db_path.parent.glob("*backup*"))


def test_a_file_that_is_no_defect_log_is_refused_and_left_alone(tmp_path):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    with pytest.raises(StorageError, match="not an inspector defect log \\(its tables: invoices\\)"):
        open_database(other)
    assert rows(other, "SELECT name FROM sqlite_master") == [("invoices",)]
    assert rows(other, "PRAGMA journal_mode") == [("delete",)], "not even switched to WAL"
    assert not other.with_name("other.sqlite-wal").exists()


def test_unusable_database_paths(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot create the folder"):
        open_database(blocker / "sub" / "defects.sqlite")
    with pytest.raises(StorageError, match="is a folder"):
        open_database(tmp_path)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database" * 1000)
    with pytest.raises(StorageError, match="cannot use database"):
        open_database(garbage)


def test_one_window_per_log_and_the_lock_goes_with_the_window(tmp_path):
    db = tmp_path / "defects.sqlite"
    with one_station(db):
        with pytest.raises(StorageError, match=r"another inspector window has .* open"), one_station(db):
            pass
        with one_station(tmp_path / "other.sqlite"):  # another log: its own window
            pass
    with one_station(db):  # released with the first window
        pass


def test_a_second_window_on_the_same_log_is_refused_in_one_line(tmp_path):
    db = tmp_path / "defects.sqlite"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    with one_station(db):
        proc = subprocess.run(
            [sys.executable, "-m", "inspector", "--db", str(db), "--exit-after", "1"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("inspector: error: another inspector window has")


def _logged(db_path: Path) -> Path:
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path).start()
    writer.end_run(writer.begin_run(RunInfo("synthetic", "demo.pt", None, "eager", "cpu")), 5)
    writer.stop()
    engine.dispose()  # closed cleanly: the WAL is folded into the file
    return db_path


def test_a_reader_changes_nothing_in_the_log_and_refuses_one_it_would_have_to_upgrade(db_path, schema1):
    before = _logged(db_path).read_bytes()
    engine = open_read_only(db_path)
    assert [r.source for r in list_runs(engine)] == ["synthetic"]
    with pytest.raises(Exception, match=r"readonly|read-only|query_only"), engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM runs")
    engine.dispose()
    assert db_path.read_bytes() == before
    old = schema1.read_bytes()
    with pytest.raises(StorageError, match="has schema 1; open it once with the station"):
        open_read_only(schema1)
    assert schema1.read_bytes() == old and not list(schema1.parent.glob("*backup*"))


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("mount"), reason="read-only media: a bind mount needs root"
)
def test_a_log_on_read_only_media_is_read(tmp_path):
    folder, media = tmp_path / "log", tmp_path / "media"
    folder.mkdir()
    media.mkdir()
    _logged(folder / "d.sqlite")
    mounted = subprocess.run(["mount", "--bind", str(folder), str(media)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"no bind mount here: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(media)], check=True)
        with pytest.raises(OSError):
            (media / "probe").touch()  # truly read-only, even for root
        engine = open_read_only(media / "d.sqlite")
        assert [r.frames for r in list_runs(engine)] == [5]
        engine.dispose()
    finally:
        subprocess.run(["umount", "--lazy", str(media)], check=True)
