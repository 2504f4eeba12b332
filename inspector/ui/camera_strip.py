"""A line of several cameras: a thumbnail of each, live, with its own verdict; a click on one puts
it in the big view."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QWidget

from inspector.inspection.parts import PartVerdict
from inspector.pipeline import InspectionResult
from inspector.ui.live_view import LiveView

CHOSEN = "QFrame { border: 3px solid #2F80ED; border-radius: 4px; }"
OTHER = "QFrame { border: 3px solid transparent; border-radius: 4px; }"


class CameraStrip(QWidget):
    """Hidden for a line of one camera; ``chosen`` says which camera the operator clicked."""

    chosen = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 4, 0, 0)
        self._frames: list[QFrame] = []
        self.views: list[LiveView] = []
        self.setFixedHeight(150)
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
            self._row.addWidget(frame)
            self._frames.append(frame)
            self.views.append(view)
        self.setVisible(len(self.views) > 1)
        self.mark(0)

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
