"""Parts inspected in this run (OK, NG, yield, NG per defect class, parts per minute) and in this
shift (from the log, so across runs), with the yield over the last parts as a plot; without a part
class, the defects found per class."""

from __future__ import annotations

import html
import time
from collections import Counter
from datetime import UTC, datetime

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from inspector.line.line import Line
from inspector.shifts import Shifts, naive_utc
from inspector.storage.part_queries import PartFilter, verdict_counts
from inspector.ui.live_view import class_colour

SHIFT_POLL_S = 2.0  # how often the shift's counts are read from the log


class CountsPanel(QGroupBox):
    def __init__(self, db: Engine, shifts: Shifts) -> None:
        super().__init__("Parts")
        self.db, self.shifts = db, shifts
        self.counts_label = QLabel("-")
        self.counts_label.setTextFormat(Qt.TextFormat.RichText)
        self.counts_label.setWordWrap(True)
        self.shift_label = QLabel("-")
        self.shift_label.setTextFormat(Qt.TextFormat.RichText)
        self.shift_label.setWordWrap(True)
        self.plot = pg.PlotWidget(background="#111418")
        self.plot.setFixedHeight(56)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setYRange(0, 100, padding=0.15)  # room for the 100% label
        self.plot.getAxis("left").setTicks([[(0, "0%"), (100, "100%")]])  # three overlap at this height
        # the x axis counts this run's parts; said in the tooltip, axis titles would take half the plot
        self.plot.setToolTip("yield % of the last parts (up to 50), over the parts of this run")
        self.yield_curve = self.plot.plot(pen=pg.mkPen("#1f8f4e", width=2))
        layout = QVBoxLayout(self)
        layout.addWidget(self.counts_label)
        layout.addWidget(self.plot)
        layout.addWidget(self.shift_label)
        self._shift_read = 0.0
        self._logged: dict[str, int] = {}  # the shift's parts in the log, as last read
        self._run: tuple[int, datetime] | None = None  # the line's run, and when it was first seen

    def refresh(self, line: Line) -> None:
        self._refresh_shift(line)
        stats, frames = line.stats, f"frames inspected <b>{line.frames}</b>"
        if not line.part_classes:
            per_class = _per_class(line.model.names, stats.defect_counts, frozenset())
            self.counts_label.setText(
                f"<i>no part class: counting defects, not parts</i><br>{per_class}<br>{frames}"
            )
            self.plot.hide()
            return
        self.plot.show()
        rolling = stats.rolling_yield()
        recent = ""
        if rolling is not None:
            recent = f"<br>yield of the last {stats.recent_parts} parts <b>{rolling:.1f}%</b>"
        self.counts_label.setText(
            f"<b>This run</b>: {_tally(stats.parts, stats.parts_ok, stats.parts_ng)}"
            f"<br>NG parts with: {_per_class(line.model.names, stats.ng_by_class, line.part_classes)}"
            f"{recent}<br>{stats.parts_per_minute():.0f} parts/min · {frames}{_per_camera(line)}"
        )
        if stats.yield_trend:
            xs, ys = zip(*stats.yield_trend, strict=True)
            self.yield_curve.setData(xs, ys)
        else:
            self.yield_curve.setData([], [])

    def _refresh_shift(self, line: Line) -> None:
        """The shift's parts: when the whole run lies in this shift, the log's parts of the other
        runs (read every few seconds) plus this run's own counts, which are current to the part (the
        log lags the line by the writer's batch); else the log's alone."""
        start = self.shifts.current()
        if self._run is None or self._run[0] != line.run_id:
            self._run = (line.run_id, datetime.now(UTC))
            self._shift_read = 0.0
        in_shift = self._run[1] >= start
        now = time.monotonic()
        if now - self._shift_read >= SHIFT_POLL_S:
            flt = PartFilter(since=naive_utc(start), other_than_run=line.run_id if in_shift else None)
            try:
                self._logged = verdict_counts(self.db, flt)
                self._shift_read = now
            except SQLAlchemyError:
                pass  # the log is busy or failing: the writer reports that; keep the last counts
        ok, ng = self._logged.get("OK", 0), self._logged.get("NG", 0)
        if in_shift:
            ok, ng = ok + line.stats.parts_ok, ng + line.stats.parts_ng
        self.shift_label.setText(f"<b>This shift</b> (since {start:%a %H:%M}): {_tally(ok + ng, ok, ng)}")


def _per_camera(line: Line) -> str:
    """A line of several cameras: each one's parts, NG and yield."""
    if len(line.cameras) < 2:
        return ""
    rows = []
    for camera in line.cameras:
        stats = camera.stats
        share = f"{stats.parts_ok / stats.parts:.0%}" if stats.parts else "-"
        rows.append(
            f"<tr><td><b>{html.escape(camera.name)}</b></td><td align='right'>{stats.parts}</td>"
            f"<td align='right' style='color:#D62728'>{stats.parts_ng}</td>"
            f"<td align='right'>{share}</td></tr>"
        )
    head = "<tr><td></td><td>&nbsp;parts</td><td>&nbsp;NG</td><td>&nbsp;yield</td></tr>"
    return f"<table cellspacing='0' cellpadding='1'>{head}{''.join(rows)}</table>"


def _tally(parts: int, ok: int, ng: int) -> str:
    share = f"{ok / parts:.1%}" if parts else "no part yet"
    return (
        f"parts <b>{parts}</b> &nbsp; OK <b>{ok}</b> &nbsp; "
        f"<span style='color:#D62728'>NG <b>{ng}</b></span> &nbsp; yield <b>{share}</b>"
    )


def _per_class(names: dict[int, str], counts: Counter[str], skip: frozenset[str]) -> str:
    return " ".join(
        f"<span style='color:{class_colour(i).name()}'>■</span>&nbsp;{name}&nbsp;"
        f"<b>{counts.get(name, 0)}</b>&nbsp; "  # wraps between classes, never inside one
        for i, name in sorted(names.items())
        if name not in skip
    )
