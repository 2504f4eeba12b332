"""Thin Qt adapters over the Qt-free line: build it off the GUI thread, run its loop in a QThread,
and carry its switch's events to the GUI thread.

The window never receives frames as queued signals (a slow painter would let them pile up): the
line keeps only its newest result, which the window polls.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QThread, Signal

from inspector.errors import InspectorError
from inspector.line.config import LineConfig
from inspector.line.line import Line
from inspector.line.station import Station

log = logging.getLogger(__name__)


class LineBuilder(QThread):
    """Loads the model and opens the run off the GUI thread, so the window never freezes on it."""

    built = Signal(object)  # Line
    failed = Signal(str)

    def __init__(self, station: Station, config: LineConfig, latency_samples: int) -> None:
        super().__init__()
        self.setObjectName("line-builder")
        self.station, self.config, self.latency_samples = station, config, latency_samples
        self.line: Line | None = None

    def run(self) -> None:
        try:
            self.line = self.station.build_line(self.config, latency_samples=self.latency_samples)
        except InspectorError as exc:
            log.warning("line not built: %s", exc)
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # a bug: said in one line, the traceback in the log
            log.exception("line not built")
            self.failed.emit(f"line not built ({type(exc).__name__}: {exc})")
            return
        self.built.emit(self.line)


class LineThread(QThread):
    """Runs ``Line.run``, the one per-frame loop, in a QThread; stops cooperatively."""

    ended = Signal(str)  # the loop ended on its own: why ("" when the source simply ran out)

    def __init__(self, line: Line) -> None:
        super().__init__()
        self.setObjectName("inspection")
        self.line = line

    def run(self) -> None:
        try:
            error = self.line.run()
        except Exception as exc:  # a dead inspection thread would freeze the line silently
            log.exception("inspection stopped")
            self.ended.emit(f"inspection stopped: {type(exc).__name__}: {exc}")
            return
        if not self.line.stopped:
            self.ended.emit(error or "")

    def stop(self) -> None:
        self.line.stop()


class Relay(QObject):
    """Hands a value from any thread to slots in the GUI thread (a queued signal)."""

    sent = Signal(object)
