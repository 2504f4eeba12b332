"""Parts inspected in this run: OK, NG, yield, NG per defect class, parts per minute; without a
part class, the defects found per class."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout

from inspector.line.line import Line
from inspector.ui.live_view import class_colour


class CountsPanel(QGroupBox):
    def __init__(self) -> None:
        super().__init__("This run")
        self.counts_label = QLabel("-")
        self.counts_label.setTextFormat(Qt.TextFormat.RichText)
        self.counts_label.setWordWrap(True)
        QVBoxLayout(self).addWidget(self.counts_label)

    def refresh(self, line: Line) -> None:
        stats, frames = line.stats, f"frames inspected <b>{line.inspector.frames}</b>"
        if not line.part_classes:
            per_class = _per_class(line.model.names, stats.defect_counts, frozenset())
            self.counts_label.setText(
                f"<i>no part class: counting defects, not parts</i><br>{per_class}<br>{frames}"
            )
            return
        share = f"{stats.parts_ok / stats.parts:.1%}" if stats.parts else "no part yet"
        self.counts_label.setText(
            f"parts <b>{stats.parts}</b> &nbsp; OK <b>{stats.parts_ok}</b> &nbsp; "
            f"<span style='color:#D62728'>NG <b>{stats.parts_ng}</b></span> &nbsp; yield <b>{share}</b>"
            f"<br>NG parts with: {_per_class(line.model.names, stats.ng_by_class, line.part_classes)}"
            f"<br>{stats.parts_per_minute():.0f} parts/min · {frames}"
        )


def _per_class(names: dict[int, str], counts: Counter[str], skip: frozenset[str]) -> str:
    return " ".join(
        f"<span style='color:{class_colour(i).name()}'>■</span>&nbsp;{name}&nbsp;"
        f"<b>{counts.get(name, 0)}</b>&nbsp; "  # wraps between classes, never inside one
        for i, name in sorted(names.items())
        if name not in skip
    )
