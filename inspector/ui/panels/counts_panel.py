"""Defects found in this run, per class, and the frames inspected."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout

from inspector.line.line import Line
from inspector.ui.live_view import class_colour


class CountsPanel(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Defects this run")
        self.counts_label = QLabel("-")
        self.counts_label.setTextFormat(Qt.TextFormat.RichText)
        self.counts_label.setWordWrap(True)
        QVBoxLayout(self).addWidget(self.counts_label)

    def refresh(self, line: Line) -> None:
        counts = line.stats.defect_counts
        self.counts_label.setText(
            " ".join(
                f"<span style='color:{class_colour(i).name()}'>■</span>&nbsp;{name}&nbsp;"
                f"<b>{counts.get(name, 0)}</b>&nbsp; "  # wraps between classes, never inside one
                for i, name in sorted(line.model.names.items())
            )
            + f"<br>frames inspected <b>{line.inspector.frames}</b>"
        )
