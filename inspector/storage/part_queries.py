"""Reading decided parts back: filtered, sorted, paged, exported as CSV, and tallied into yield."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, Select, exists, func, select
from sqlalchemy.orm import Session, selectinload

from inspector.storage.models import Defect, Part
from inspector.storage.queries import detached, ordered, stream_csv

SORTABLE = ("decided_at", "run_id", "camera", "part", "verdict", "kind", "first_frame", "id")
CSV_COLUMNS = (
    "id",
    "run_id",
    "camera",
    "part",
    "kind",
    "verdict",
    "defect_classes",
    "defects",
    "first_seen_at",
    "last_seen_at",
    "decided_at",
    "first_frame",
    "last_frame",
    "best_frame",
    "x1",
    "y1",
    "x2",
    "y2",
    "backend",
    "image_path",
)


@dataclass(frozen=True, slots=True)
class PartFilter:
    """Each field narrows the parts; ``None`` leaves it open. ``class_name``: parts with a defect
    of that class. Times (of the verdict) are naive UTC."""

    run_id: int | None = None
    verdict: str | None = None
    class_name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    other_than_run: int | None = None  # every run's parts but this one's

    def apply(self, stmt: Select) -> Select:
        if self.run_id is not None:
            stmt = stmt.where(Part.run_id == self.run_id)
        if self.other_than_run is not None:
            stmt = stmt.where(Part.run_id != self.other_than_run)
        if self.verdict is not None:
            stmt = stmt.where(Part.verdict == self.verdict)
        if self.class_name is not None:
            stmt = stmt.where(exists().where(Defect.part_id == Part.id, Defect.class_name == self.class_name))
        if self.since is not None:
            stmt = stmt.where(Part.decided_at >= self.since)
        if self.until is not None:
            stmt = stmt.where(Part.decided_at <= self.until)
        return stmt


def count_parts(engine: Engine, flt: PartFilter = PartFilter()) -> int:
    with Session(engine) as session:
        return int(session.scalar(flt.apply(select(func.count(Part.id)))) or 0)


def verdict_counts(engine: Engine, flt: PartFilter = PartFilter()) -> dict[str, int]:
    """Parts per verdict, counted by the database (cheap enough to poll for a shift's counters)."""
    stmt = flt.apply(select(Part.verdict, func.count(Part.id))).group_by(Part.verdict)
    with Session(engine) as session:
        return {verdict: int(n) for verdict, n in session.execute(stmt)}


def parts_per_run(engine: Engine) -> dict[int, int]:
    """How many parts each run decided."""
    stmt = select(Part.run_id, func.count(Part.id)).group_by(Part.run_id)
    with Session(engine) as session:
        return {run_id: int(n) for run_id, n in session.execute(stmt)}


def query_parts(
    engine: Engine,
    flt: PartFilter = PartFilter(),
    order_by: str = "decided_at",
    descending: bool = True,
    limit: int = 100,
    offset: int = 0,
) -> list[Part]:
    """One page of parts with their defects loaded, detached so any thread may read them."""
    with_defects = select(Part).options(selectinload(Part.defects))
    stmt = ordered(flt.apply(with_defects), Part, SORTABLE, order_by, descending)
    return detached(engine, stmt.limit(limit).offset(offset))


def export_parts_csv(
    engine: Engine,
    path: str | Path,
    flt: PartFilter = PartFilter(),
    order_by: str = "decided_at",
    descending: bool = False,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 2000,
) -> int:
    """Stream the filtered parts to ``path``, one row each with its number of defects."""
    n_defects = select(func.count(Defect.id)).where(Defect.part_id == Part.id).scalar_subquery()
    columns = [n_defects if c == "defects" else getattr(Part, c) for c in CSV_COLUMNS]
    stmt = ordered(flt.apply(select(*columns)), Part, SORTABLE, order_by, descending)
    return stream_csv(engine, path, stmt, CSV_COLUMNS, count_parts(engine, flt), progress, chunk)


@dataclass(slots=True)
class Tally:
    """Parts, OK and NG over some span; ``ng_by_class`` counts NG parts per defect class found on
    them (a part with two classes counts under both)."""

    parts: int = 0
    ok: int = 0
    ng: int = 0
    ng_by_class: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None  # the first and last verdict (naive UTC)
    last: datetime | None = None

    @property
    def yield_pct(self) -> float | None:
        return 100.0 * self.ok / self.parts if self.parts else None

    def add(self, verdict: str, classes: str, at: datetime) -> None:
        self.parts += 1
        if verdict == "NG":
            self.ng += 1
            self.ng_by_class.update(c for c in classes.split(",") if c)
        else:
            self.ok += 1
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)


def tally(
    engine: Engine,
    flt: PartFilter = PartFilter(),
    key: Callable[[int, datetime], Hashable] = lambda run_id, decided_at: run_id,
    chunk: int = 5000,
) -> dict[Hashable, Tally]:
    """Parts, OK, NG and NG by class per ``key(run_id, decided_at)`` (default: per run), in the
    order the keys first appear in time."""
    stmt = flt.apply(select(Part.run_id, Part.decided_at, Part.verdict, Part.defect_classes))
    stmt = stmt.order_by(Part.decided_at, Part.id)
    out: dict[Hashable, Tally] = {}
    with Session(engine) as session:
        for run_id, at, verdict, classes in session.execute(stmt.execution_options(yield_per=chunk)):
            out.setdefault(key(run_id, at), Tally()).add(verdict, classes, at)
    return out
