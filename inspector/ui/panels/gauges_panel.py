"""Frame rates, latency percentiles per stage, a plot of the last minute, and the machine."""

from __future__ import annotations

import math
import time
from collections import deque

import numpy as np
import psutil
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QToolButton

from inspector.line.line import Line
from inspector.metrics import RateMeter
from inspector.pipeline import InspectionResult
from inspector.ui.elided_label import ElidedLabel

PLOT_SECONDS = 60
QUANTILES = ("p50", "p95", "p99")
STAGES = (("capture", "queue"), ("pre", "pre"), ("infer", "infer"), ("post", "post"))
INFER_COLOUR, TOTAL_COLOUR = "#56B4E9", "#E69F00"


class GaugesPanel(QGroupBox):
    """What the line measures, plus what only the window knows: when a frame was shown."""

    def __init__(self, big: QFont) -> None:
        super().__init__("Gauges")
        self.display_rate = RateMeter()
        self._history: deque[tuple[float, float, float]] = deque()  # (t, infer ms, capture→display ms)
        self._display_latency: deque[float] = deque(maxlen=600)
        g = QGridLayout(self)
        # each rate under its name: a line of many cameras captures hundreds of frames a second, and
        # one row of names and numbers is wider than the panel at 1280x800
        rates = QGridLayout()
        self.fps_labels = {name: QLabel("-") for name in ("capture", "inference", "display")}
        for column, (name, label) in enumerate(self.fps_labels.items()):
            label.setFont(big)
            rates.addWidget(QLabel(f"{name} fps"), 0, column)
            rates.addWidget(label, 1, column)
        g.addLayout(rates, 0, 0)
        # the engineer's table, folded away by default
        self.table_toggle = QToolButton(text="latency per stage", checkable=True, autoRaise=True)
        self.table_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.table_toggle.toggled.connect(self._unfold)
        legend = QLabel(  # the plot's legend, above it rather than over its lines
            f'<span style="color:{INFER_COLOUR};">━ infer</span> '
            f'<span style="color:{TOTAL_COLOUR};">━ capture→display</span> ms'
        )
        fold = QHBoxLayout()
        fold.addWidget(self.table_toggle)
        fold.addStretch(1)
        fold.addWidget(legend)
        g.addLayout(fold, 2, 0)
        self.latency_table = QLabel()
        self.latency_table.setTextFormat(Qt.TextFormat.RichText)
        g.addWidget(self.latency_table, 3, 0)
        self._unfold(False)
        self.plot = pg.PlotWidget(background="#111418")
        self.plot.setFixedHeight(72)
        self.plot.setMouseEnabled(x=False, y=False)  # a wheel over it must not zoom it out of sense
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setXRange(-PLOT_SECONDS, 0)
        ticks = [(-45, "45 s ago"), (-30, "30"), (-15, "15"), (0, "now")]
        self.plot.getAxis("bottom").setTicks([ticks])
        self.infer_curve = self.plot.plot(pen=pg.mkPen(INFER_COLOUR, width=2))
        self.total_curve = self.plot.plot(pen=pg.mkPen(TOTAL_COLOUR, width=2))
        g.addWidget(self.plot, 4, 0)
        self.misc_label = ElidedLabel()
        g.addWidget(self.misc_label, 5, 0)

    def _unfold(self, shown: bool) -> None:
        self.latency_table.setVisible(shown)
        self.table_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def clear(self) -> None:
        self._history.clear()
        self._display_latency.clear()

    def shown(self, result: InspectionResult) -> None:
        """A new result was painted: its capture→display time, and a point on the plot."""
        now = time.perf_counter()
        self.display_rate.tick(now)
        shown_ms = (now - result.frame.captured_at) * 1e3
        self._display_latency.append(shown_ms)
        self._history.append((now, result.times.infer_ms, shown_ms))
        while self._history and now - self._history[0][0] > PLOT_SECONDS:
            self._history.popleft()

    def refresh(self, line: Line) -> None:
        stats = line.stats
        self.fps_labels["capture"].setText(f"{stats.captured.rate():.1f}")
        self.fps_labels["inference"].setText(f"{stats.inspected.rate():.1f}")
        self.fps_labels["display"].setText(f"{self.display_rate.rate():.1f}")
        rows = [(name, stats.latency.percentiles(stage)) for stage, name in STAGES]
        if self._display_latency:
            q = np.percentile(np.array(self._display_latency), (50, 95, 99))
            rows.append(("capture→display", {"p50": q[0], "p95": q[1], "p99": q[2]}))
        cells = "".join(
            f"<tr><td>{name}</td>{''.join(f'<td align=right>{_ms(p[q])}</td>' for q in QUANTILES)}</tr>"
            for name, p in rows
        )
        self.latency_table.setText(
            "<table width=100% cellspacing=2><tr><th align=left>latency ms</th><th>p50</th><th>p95</th>"
            f"<th>p99</th></tr>{cells}</table>"
        )
        if self._history:
            now = time.perf_counter()
            xs = [t - now for t, _, _ in self._history]
            self.infer_curve.setData(xs, [v for _, v, _ in self._history])
            self.total_curve.setData(xs, [v for _, _, v in self._history])
        memory = psutil.Process().memory_info().rss / 2**20
        gpu_mib = line.gpu_memory_mib()
        gpu = f", GPU {gpu_mib:.0f} MiB" if gpu_mib is not None else ""
        self.misc_label.setText(f"dropped {line.dropped} · {line.device_name} · memory {memory:.0f} MiB{gpu}")


def _ms(value: float) -> str:
    """A latency for the table; a dash while there is none yet (never "nan")."""
    return "-" if math.isnan(value) else f"{value:.1f}"
