"""The Gauges panel: the line's rates readable whole in the side panel's width."""

from __future__ import annotations

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from inspector.ui.panels.gauges_panel import GaugesPanel


def test_the_rates_of_a_line_of_64_cameras_are_shown_whole_in_the_side_panels_width(qtbot):
    holder = QWidget()
    holder.setFixedWidth(380)  # the window's side panel
    rates = QFont(holder.font())
    rates.setPointSize(12)
    rates.setBold(True)
    panel = GaugesPanel(rates)
    QVBoxLayout(holder).addWidget(panel)
    qtbot.addWidget(holder)
    for label in panel.fps_labels.values():
        label.setText("1920.0")  # 64 cameras at 30 frames/s
    holder.show()
    qtbot.waitExposed(holder)
    names = [w for w in panel.findChildren(QLabel) if w.text().endswith(" fps")]
    assert len(names) == 3
    for label in names + list(panel.fps_labels.values()):
        assert label.width() >= label.sizeHint().width(), f"{label.text()!r} cut to {label.width()} px"
