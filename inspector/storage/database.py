"""Opening the SQLite file: WAL so the history view reads while the writer writes."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from filelock import FileLock, Timeout
from platformdirs import user_data_path
from sqlalchemy import URL, Engine, create_engine, event, inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from inspector.errors import InspectorError
from inspector.storage.models import SCHEMA_VERSION, Base, Meta

log = logging.getLogger(__name__)


class StorageError(InspectorError):
    """The defect log cannot be opened or written; the message names the file and the reason."""


def default_database_path() -> Path:
    return user_data_path("inspector", appauthor=False) / "defects.sqlite"


def media_dir(db_path: Path) -> Path:
    """Where defect images of this database go: a folder beside it."""
    return db_path.with_name(db_path.stem + "-images")


def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process in WAL mode
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def open_database(path: str | Path) -> Engine:
    """Create or open the defect log; a log of an older schema is upgraded in place, after a
    backup copy beside it; one of a newer schema, or a file that is no defect log, is refused."""
    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the folder for database {path}: {exc.strerror}") from exc
    if path.is_dir():
        raise StorageError(f"database path {path} is a folder; give a file name")
    # the URL is built, not formatted: a name with "%", "?" or "#" is a name, not URL syntax
    engine = create_engine(URL.create("sqlite", database=str(path)))
    event.listen(engine, "connect", _on_connect)
    try:
        with _opening(path):
            _prepare(engine, path, _schema_of(path))
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = getattr(exc, "orig", None) or exc
        raise StorageError(f"cannot use database {path}: {reason}") from exc
    except StorageError:
        engine.dispose()
        raise
    return engine


def open_read_only(path: str | Path) -> Engine:
    """A defect log opened for reading alone (``history``): nothing is created, upgraded or
    switched to WAL, and a log on read-only media reads. A log of another schema is refused in
    one line (an older one is upgraded by the station, not by a reader)."""
    path = Path(path).expanduser()
    version = _schema_of(path)
    if version is None:
        raise StorageError(f"no defect log in {path}")
    if version != SCHEMA_VERSION:
        raise StorageError(
            f"database {path} has schema {version}; open it once with the station (inspector, or "
            "inspector run) to upgrade it, then read it"
        )

    def connect() -> sqlite3.Connection:
        conn = _read_only(path)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA query_only=ON")
        return conn

    return create_engine("sqlite://", creator=connect)


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that writes nothing. On read-only media SQLite cannot make a WAL log's shared
    memory file: the log is then read as it lies on disk (a cleanly closed log holds everything)."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError:
        conn.close()
        conn = sqlite3.connect(f"{path.as_uri()}?immutable=1", uri=True, check_same_thread=False)
    return conn


def one_station(path: str | Path) -> contextlib.AbstractContextManager[None]:
    """Held while a window works on the log at ``path``: a second window on the same log is
    refused in one line (two stations would number runs and parts over each other in one view).
    Headless runs may share a log; they take no such lock."""
    path = Path(path).expanduser()
    busy = f"another inspector window has {path} open; use that one, or give another --db"
    return _held(path, ".station.lock", 0, busy)


def _opening(path: Path) -> contextlib.AbstractContextManager[None]:
    """Held while the file is created or upgraded, so two stations opening it at once take turns."""
    return _held(path, ".lock", 60, f"database {path} is being opened by another program for over a minute")


@contextmanager
def _held(path: Path, suffix: str, timeout: float, busy: str) -> Iterator[None]:
    """A lock file beside the database, held for the ``with`` block; ``busy`` when another holds it."""
    lock = FileLock(path.with_name(path.name + suffix))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise StorageError(busy) from exc
    except OSError as exc:
        raise StorageError(f"cannot lock database {path}: {exc.strerror or exc}") from exc
    try:
        yield
    finally:
        lock.release()


def _schema_of(path: Path) -> int | None:
    """The schema version of the log at ``path`` (``None``: no log there yet), read without
    changing the file; another program's SQLite file, a newer log, or a file that is no SQLite
    database at all is refused before anything is written to it."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        with contextlib.closing(_read_only(path)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            query = "SELECT value FROM meta WHERE key = 'schema_version'"
            row = conn.execute(query).fetchone() if "meta" in tables else None
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"cannot use database {path}: {exc}") from exc
    if not tables:
        return None
    if row is None:
        names = ", ".join(sorted(tables)[:5])
        raise StorageError(f"{path} is not an inspector defect log (its tables: {names}); give another --db")
    version = str(row[0])
    if not version.isdigit():
        raise StorageError(f"{path} has an unreadable schema version {version!r}; give another --db")
    if int(version) > SCHEMA_VERSION:
        raise StorageError(
            f"database {path} has schema {version}, newer than this inspector "
            f"({SCHEMA_VERSION}); upgrade inspector or use another --db"
        )
    return int(version)


def _prepare(engine: Engine, path: Path, version: int | None) -> None:
    if version is None:
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            session.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
            session.commit()
        _migrate(engine, stamp=True)
        return
    if version < SCHEMA_VERSION:
        backup = _backup(engine, path, version)
        log.info("upgrading %s from schema %s to %s; its copy: %s", path, version, SCHEMA_VERSION, backup)
    _migrate(engine)


def _migrate(engine: Engine, stamp: bool = False) -> None:
    """Bring the schema to the newest revision (``stamp``: the tables are new, only record it)."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        if not stamp and "alembic_version" not in inspect(connection).get_table_names():
            command.stamp(config, "schema_1")  # a database from before the migrations: the first schema
        if stamp:
            command.stamp(config, "head")
        else:
            command.upgrade(config, "head")


def _backup(engine: Engine, path: Path, version: int) -> Path:
    """A consistent copy of the database, taken through SQLite's backup API, before it changes."""
    target = path.with_name(f"{path.stem}.schema-{version}-backup{path.suffix}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.stem}.schema-{version}-backup-{n}{path.suffix}")
    source = engine.raw_connection()
    try:
        copy = sqlite3.connect(target)
        try:
            source.driver_connection.backup(copy)  # type: ignore[union-attr]
        finally:
            copy.close()
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise StorageError(f"cannot back up {path} before upgrading it ({exc}); nothing was changed") from exc
    finally:
        source.close()
    return target
