"""A line of several cameras: a thumbnail of each, live, with its own verdict; a click on one puts
it in the big view."""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QScrollArea, QWidget

from inspector.inspection.parts import PartVerdict
from inspector.pipeline import InspectionResult
from inspector.ui.live_view import THUMBNAIL_MIN_WIDTH, LiveView

CHOSEN = "QFrame { border: 3px solid #2F80ED; border-radius: 4px; }"
OTHER = "QFrame { border: 3px solid transparent; border-radius: 4px; }"
ONE_ROW_HEIGHT = 150  # the strip of a few cameras: one row of thumbnails
ROW_HEIGHT = 96  # each row of a strip of many: two rows in view, the rest a scroll away
ROWS_IN_VIEW = 2
CELL_WIDTH = THUMBNAIL_MIN_WIDTH + 10  # a thumbnail, its frame and the grid's spacing


class CameraStrip(QScrollArea):
    """Hidden for a line of one camera; ``chosen`` says which camera the operator clicked.

    The thumbnails fill as few even rows as the width allows at a legible size; beyond two rows the
    strip scrolls rather than shrinking the big view or the thumbnails."""

    chosen = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        grid = QWidget()
        self._grid = QGridLayout(grid)
        self._grid.setContentsMargins(0, 4, 0, 0)
        self.setWidget(grid)
        self._frames: list[QFrame] = []
        self.views: list[LiveView] = []
        self.columns = 0
        self.setFixedHeight(ONE_ROW_HEIGHT)
        self.hide()

    def set_cameras(self, names: list[str], part_classes: frozenset[str]) -> None:
        """One thumbnail per camera (none, and hidden, for a single camera)."""
        for frame in self._frames:
            frame.deleteLater()
        self._frames, self.views = [], []
        for name in names if len(names) > 1 else []:
            frame = QFrame()
            box = QHBoxLayout(frame)
            box.setContentsMargins(0, 0, 0, 0)
            view = LiveView(compact=True)
            view.title = name
            view.part_classes = part_classes
            view.show_state(None)
            view.installEventFilter(self)
            box.addWidget(view)
            self._frames.append(frame)
            self.views.append(view)
        self.columns = 0
        self._arrange()
        self.setVisible(len(self.views) > 1)
        self.mark(0)

    def rows(self) -> int:
        return math.ceil(len(self._frames) / self.columns) if self.columns else 0

    def _arrange(self) -> None:
        """Thumbnails in as few rows as the strip's width allows at a legible size, evenly filled
        (all in one row where they fit)."""
        n = len(self._frames)
        width = self.viewport().width() if self.isVisible() else self.width()
        fit = max(1, min(n, width // CELL_WIDTH))
        columns = math.ceil(n / math.ceil(n / fit)) if n else 0  # the rows evenly filled
        if columns == self.columns:
            return
        self.columns = columns
        for frame in self._frames:
            self._grid.removeWidget(frame)
        for row in range(self._grid.rowCount()):
            self._grid.setRowMinimumHeight(row, 0)
        for i, frame in enumerate(self._frames):
            self._grid.addWidget(frame, i // columns, i % columns)
        rows = self.rows()
        row_height = ONE_ROW_HEIGHT if rows <= 1 else ROW_HEIGHT
        for row in range(rows):
            self._grid.setRowMinimumHeight(row, row_height - 4)
        self.setFixedHeight(ONE_ROW_HEIGHT if rows <= 1 else row_height * ROWS_IN_VIEW + 4)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._arrange()

    def mark(self, index: int) -> None:
        for i, frame in enumerate(self._frames):
            frame.setStyleSheet(CHOSEN if i == index else OTHER)

    def show_result(self, index: int, result: InspectionResult, last_part: PartVerdict | None) -> None:
        if index < len(self.views):
            self.views[index].show_result(result, last_part)

    def show_state(self, state: str | None) -> None:
        for view in self.views:
            view.show_state(state)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonPress and watched in self.views:
            index = self.views.index(watched)
            self.mark(index)
            self.chosen.emit(index)
            return True
        return super().eventFilter(watched, event)
