"""A label of one line that never changes its height or width with its text."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy

SHRINK_STEP_PT = 0.5


class ElidedLabel(QLabel):
    """Text wider than the label ends in an ellipsis, the whole of it in the tooltip: a label that
    wraps or widens moves every widget beside and under it each time its text changes.

    With ``smallest_pt`` the text first shrinks, down to that size, to fit whole: the end of a
    backend's name (``compiled (openvino-bf16)``) says what runs and must not be the part cut off.
    The label keeps the height of its own font either way."""

    def __init__(self, text: str = "", smallest_pt: float | None = None) -> None:
        super().__init__()
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self._full = ""
        self._font = QFont(self.font())
        self._smallest = smallest_pt
        self._fix_height()
        self.setText(text)

    def setFont(self, font: QFont) -> None:
        self._font = QFont(font)
        super().setFont(font)
        self._fix_height()
        self._elide()

    def _fix_height(self) -> None:
        """One line of the label's own font, whatever size the text is shown at."""
        margins = self.contentsMargins()
        self.setFixedHeight(QFontMetrics(self._font).height() + margins.top() + margins.bottom())

    def setText(self, text: str) -> None:
        self._full = text
        self._elide()

    def text(self) -> str:
        """The whole text, as set."""
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width, font = max(0, self.width()), QFont(self._font)
        if self._smallest is not None:
            while font.pointSizeF() - SHRINK_STEP_PT >= self._smallest and (
                QFontMetrics(font).horizontalAdvance(self._full) > width
            ):
                font.setPointSizeF(font.pointSizeF() - SHRINK_STEP_PT)
            if font != self.font():
                super().setFont(font)
        shown = QFontMetrics(font).elidedText(self._full, Qt.TextElideMode.ElideRight, width)
        super().setText(shown)
        self.setToolTip(self._full if shown != self._full else "")
