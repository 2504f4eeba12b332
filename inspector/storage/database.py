"""Opening the SQLite file: WAL so the history view reads while the writer writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from platformdirs import user_data_path
from sqlalchemy import URL, Engine, create_engine, event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from inspector.errors import InspectorError
from inspector.storage.models import SCHEMA_VERSION, Base, Meta


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
    """Create or open the defect log, checking that it is one this version understands."""
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
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            version = session.scalar(select(Meta.value).where(Meta.key == "schema_version"))
            if version is None:
                session.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
                session.commit()
            elif int(version) > SCHEMA_VERSION:
                raise StorageError(
                    f"database {path} has schema {version}, newer than this inspector "
                    f"({SCHEMA_VERSION}); upgrade inspector or use another --db"
                )
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = getattr(exc, "orig", None) or exc
        raise StorageError(f"cannot use database {path}: {reason}") from exc
    return engine
