"""A table model over the defect log that reads one page at a time, so 100,000 rows scroll freely."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from sqlalchemy import Engine

from inspector.storage.models import Defect
from inspector.storage.queries import DefectFilter, count_defects, query_defects

COLUMNS: tuple[tuple[str, str], ...] = (
    ("detected_at", "Time"),
    ("run_id", "Run"),
    ("frame_index", "Frame"),
    ("class_name", "Class"),
    ("confidence", "Confidence"),
    ("backend", "Backend"),
)
SORTABLE = {"detected_at", "run_id", "frame_index", "class_name", "confidence"}

Index = QModelIndex | QPersistentModelIndex


class DefectTableModel(QAbstractTableModel):
    """Rows are fetched in pages of ``page_size`` when a view asks for them; a few pages stay cached."""

    def __init__(self, engine: Engine, page_size: int = 200, cached_pages: int = 8) -> None:
        super().__init__()
        self.engine = engine
        self.page_size = page_size
        self.cached_pages = cached_pages
        self.filter = DefectFilter()
        self.order_by = "detected_at"
        self.descending = True
        self._total = 0
        self._pages: OrderedDict[int, list[Defect]] = OrderedDict()
        self.pages_fetched = 0

    def refresh(self, flt: DefectFilter | None = None) -> None:
        self.beginResetModel()
        if flt is not None:
            self.filter = flt
        self._pages.clear()
        self._total = count_defects(self.engine, self.filter)
        self.endResetModel()

    def defect_at(self, row: int) -> Defect | None:
        if not 0 <= row < self._total:
            return None
        number = row // self.page_size
        page = self._pages.get(number)
        if page is None:
            page = query_defects(
                self.engine,
                self.filter,
                self.order_by,
                self.descending,
                limit=self.page_size,
                offset=number * self.page_size,
            )
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
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][1]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.TextAlignmentRole):
            return None
        key = COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            numeric = key in ("run_id", "frame_index", "confidence")
            return int(Qt.AlignmentFlag.AlignRight if numeric else Qt.AlignmentFlag.AlignLeft) | int(
                Qt.AlignmentFlag.AlignVCenter
            )
        defect = self.defect_at(index.row())
        if defect is None:
            return None
        value = getattr(defect, key)
        if key == "detected_at":
            local = value.replace(tzinfo=UTC).astimezone()
            return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"
        if key == "confidence":
            return f"{value:.2f}"
        return str(value)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = COLUMNS[column][0]
        if key not in SORTABLE:
            return
        self.order_by = key
        self.descending = order == Qt.SortOrder.DescendingOrder
        self.refresh()
