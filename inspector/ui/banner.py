"""The strip above the live view that says what went wrong, or right again; a click dismisses it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QLabel


class Banner(QLabel):
    """Hidden until ``say``; the operator clicks it away once read (a new message shows it again)."""

    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("click to dismiss")
        self.hide()

    def say(self, text: str, colour: str) -> None:
        self.setStyleSheet(f"background:{colour};color:white;font-weight:bold;padding:8px;border-radius:4px;")
        self.setText(f"{text}   \N{MULTIPLICATION SIGN}")  # a close mark every font draws
        self.show()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.hide()
        event.accept()
