"""Table models over the log that read one page at a time, so 100,000 rows scroll freely: one
over decided parts, one over defects."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from sqlalchemy import Engine

from inspector.storage.part_queries import PartFilter, count_parts, query_parts
from inspector.storage.queries import DefectFilter, count_defects, query_defects

Index = QModelIndex | QPersistentModelIndex
VERDICT_COLOURS = {"OK": QColor("#1f8f4e"), "NG": QColor("#c62828")}


def local_time(value: datetime) -> str:
    """A logged (naive UTC) time as the operator's local wall clock, to the millisecond."""
    local = value.replace(tzinfo=UTC).astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    text: Callable[[Any], str]
    sort_key: str | None = None  # the query's column to sort by; None: not sortable
    numeric: bool = False


def _part_number(defect: Any) -> str:
    return str(defect.part.part) if defect.part is not None else "-"


DEFECT_COLUMNS = (
    Column("Time", lambda d: local_time(d.detected_at), "detected_at"),
    Column("Run", lambda d: str(d.run_id), "run_id", numeric=True),
    Column("Camera", lambda d: d.camera, "camera"),
    Column("Part", _part_number, "part_id", numeric=True),
    Column("Class", lambda d: d.class_name, "class_name"),
    Column("Confidence", lambda d: f"{d.confidence:.2f}", "confidence", numeric=True),
    Column("Frames", lambda d: str(d.frames) if d.frames is not None else "1", "frames", numeric=True),
    Column("Frame", lambda d: str(d.frame_index), "frame_index", numeric=True),
)
PART_COLUMNS = (
    Column("Decided", lambda p: local_time(p.decided_at), "decided_at"),
    Column("Run", lambda p: str(p.run_id), "run_id", numeric=True),
    Column("Camera", lambda p: p.camera, "camera"),
    Column("Part", lambda p: str(p.part), "part", numeric=True),
    Column("Kind", lambda p: p.kind, "kind"),
    Column("Verdict", lambda p: p.verdict, "verdict"),
    Column("Defects", lambda p: ", ".join(d.class_name for d in p.defects) or "-"),
    Column("Frames", lambda p: f"{p.first_frame} to {p.last_frame}", "first_frame", numeric=True),
)


class PagedTableModel(QAbstractTableModel):
    """Rows are fetched in pages of ``page_size`` when a view asks for them; a few pages stay
    cached. ``count(engine, filter)`` and ``query(engine, filter, order_by, descending, limit,
    offset)`` read the log."""

    def __init__(
        self,
        engine: Engine,
        columns: tuple[Column, ...],
        count: Callable[..., int],
        query: Callable[..., list[Any]],
        flt: Any,
        page_size: int = 200,
        cached_pages: int = 8,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.columns = columns
        self._count, self._query = count, query
        self.page_size = page_size
        self.cached_pages = cached_pages
        self.filter = flt
        self.order_by = columns[0].sort_key or "id"
        self.descending = True
        self._total = 0
        self._pages: OrderedDict[int, list[Any]] = OrderedDict()
        self.pages_fetched = 0

    def count(self, flt: Any) -> int:
        """Rows of the log under ``flt`` now."""
        return self._count(self.engine, flt)

    def refresh(self, flt: Any = None) -> None:
        self.beginResetModel()
        if flt is not None:
            self.filter = flt
        self._pages.clear()
        self._total = self._count(self.engine, self.filter)
        self.endResetModel()

    def row_at(self, row: int) -> Any:
        if not 0 <= row < self._total:
            return None
        number = row // self.page_size
        page = self._pages.get(number)
        if page is None:
            size = self.page_size
            page = self._query(self.engine, self.filter, self.order_by, self.descending, size, number * size)
            self.pages_fetched += 1
            self._pages[number] = page
            while len(self._pages) > self.cached_pages:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(number)
        offset = row - number * self.page_size
        return page[offset] if offset < len(page) else None

    # Qt model API ----------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._total

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section].title
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            side = Qt.AlignmentFlag.AlignRight if column.numeric else Qt.AlignmentFlag.AlignLeft
            return int(side) | int(Qt.AlignmentFlag.AlignVCenter)
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole):
            return None
        item = self.row_at(index.row())
        if item is None:
            return None
        text = column.text(item)
        if role == Qt.ItemDataRole.ForegroundRole:
            return VERDICT_COLOURS.get(text) if column.title == "Verdict" else None
        return text

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = self.columns[column].sort_key
        if key is None:
            return
        self.order_by = key
        self.descending = order == Qt.SortOrder.DescendingOrder
        self.refresh()


def defect_model(engine: Engine) -> PagedTableModel:
    return PagedTableModel(engine, DEFECT_COLUMNS, count_defects, query_defects, DefectFilter())


def part_model(engine: Engine) -> PagedTableModel:
    return PagedTableModel(engine, PART_COLUMNS, count_parts, query_parts, PartFilter())
