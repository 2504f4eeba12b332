"""Reading the defect log back: filtered, sorted, paged, and exported as CSV."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session, selectinload

from inspector.storage.models import Defect, Part, Run

SORTABLE = (
    "detected_at",
    "run_id",
    "camera",
    "part_id",
    "frame_index",
    "class_name",
    "confidence",
    "frames",
    "id",
)
CSV_COLUMNS = (
    "id",
    "run_id",
    "camera",
    "detected_at",
    "frame_index",
    "class_name",
    "confidence",
    "x1",
    "y1",
    "x2",
    "y2",
    "backend",
    "image_path",
)


@dataclass(frozen=True, slots=True)
class DefectFilter:
    """Each field narrows the rows; ``None`` leaves it open. Times are naive UTC."""

    run_id: int | None = None
    class_name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_confidence: float | None = None

    def apply(self, stmt: Select) -> Select:
        if self.run_id is not None:
            stmt = stmt.where(Defect.run_id == self.run_id)
        if self.class_name is not None:
            stmt = stmt.where(Defect.class_name == self.class_name)
        if self.since is not None:
            stmt = stmt.where(Defect.detected_at >= self.since)
        if self.until is not None:
            stmt = stmt.where(Defect.detected_at <= self.until)
        if self.min_confidence is not None:
            stmt = stmt.where(Defect.confidence >= self.min_confidence)
        return stmt


def ordered(stmt: Select, table: type, sortable: tuple[str, ...], order_by: str, descending: bool) -> Select:
    """``stmt`` sorted by one of ``table``'s ``sortable`` columns, ties broken by id the same way."""
    if order_by not in sortable:
        raise ValueError(f"cannot sort by {order_by!r}: choose one of {', '.join(sortable)}")
    column, tie = getattr(table, order_by), table.id
    if descending:
        return stmt.order_by(column.desc(), tie.desc())
    return stmt.order_by(column.asc(), tie.asc())


def stream_csv(
    engine: Engine,
    path: str | Path,
    stmt: Select,
    header: tuple[str, ...],
    total: int,
    progress: Callable[[int, int], None] | None,
    chunk: int,
) -> int:
    """Write ``stmt``'s rows to ``path`` under ``header`` (times as ISO 8601 UTC);
    ``progress(done, total)`` after each chunk."""
    done = 0
    with Session(engine) as session, Path(path).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for rows in session.execute(stmt.execution_options(yield_per=chunk)).partitions():
            writer.writerows([_iso(v) if isinstance(v, datetime) else v for v in row] for row in rows)
            done += len(rows)
            if progress is not None:
                progress(done, total)
    return done


def count_defects(engine: Engine, flt: DefectFilter = DefectFilter()) -> int:
    with Session(engine) as session:
        return int(session.scalar(flt.apply(select(func.count(Defect.id)))) or 0)


def query_defects(
    engine: Engine,
    flt: DefectFilter = DefectFilter(),
    order_by: str = "detected_at",
    descending: bool = True,
    limit: int = 100,
    offset: int = 0,
) -> list[Defect]:
    """One page of defects with their parts, detached from the session so any thread may read them."""
    with_parts = select(Defect).options(selectinload(Defect.part).selectinload(Part.defects))
    stmt = ordered(flt.apply(with_parts), Defect, SORTABLE, order_by, descending)
    return detached(engine, stmt.limit(limit).offset(offset))


def class_counts(engine: Engine, flt: DefectFilter = DefectFilter()) -> dict[str, int]:
    stmt = flt.apply(select(Defect.class_name, func.count(Defect.id))).group_by(Defect.class_name)
    with Session(engine) as session:
        return {name: int(n) for name, n in session.execute(stmt)}


def list_runs(engine: Engine) -> list[Run]:
    return detached(engine, select(Run).order_by(Run.id))


def detached(engine: Engine, stmt: Select) -> list[Any]:
    """The rows ``stmt`` selects, with what it loads, detached from their session so that any
    thread may read them."""
    with Session(engine, expire_on_commit=False) as session:
        rows = list(session.scalars(stmt))
        session.expunge_all()
    return rows


def export_csv(
    engine: Engine,
    path: str | Path,
    flt: DefectFilter = DefectFilter(),
    order_by: str = "detected_at",
    descending: bool = False,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 2000,
) -> int:
    """Stream the filtered defects to ``path``."""
    columns = [getattr(Defect, c) for c in CSV_COLUMNS]
    stmt = ordered(flt.apply(select(*columns)), Defect, SORTABLE, order_by, descending)
    return stream_csv(engine, path, stmt, CSV_COLUMNS, count_defects(engine, flt), progress, chunk)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds") + "Z"
