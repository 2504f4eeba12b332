"""The backend in charge, the Eager / Compiled switch, and the compile's progress.

The policy lives in the line's ``BackendSwitch``; this panel only asks it and shows its events.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
)

from inspector.line.line import Line
from inspector.line.switch import (
    CANCELLED,
    FAILED,
    FELL_BACK,
    MODE_HELP,
    PROGRESS,
    READY,
    SWAPPED,
    CompileProgress,
    SwitchEvent,
)
from inspector.ui.elided_label import ElidedLabel
from inspector.ui.workers import Relay

READY_AHEAD = "ready: flip to Compiled"  # the bar once a compile started ahead is done
EARLIER = "compiled earlier in this run"


class InferencePanel(QGroupBox):
    """Emits ``error`` when a compile the operator asked for fails, or the compiled backend breaks."""

    error = Signal(str)

    def __init__(self, backend: str, mode: str | None, big: QFont) -> None:
        super().__init__("Inference")
        self._line: Line | None = None
        self._relay: Relay | None = None
        self._compile_started = 0.0  # perf_counter time the compile in progress began
        grid = QGridLayout(self)
        # one line: the swap moves nothing under it; shrunk before cut, the precision at its end shows
        self.active_backend = ElidedLabel("—", smallest_pt=big.pointSizeF() * 0.7)
        self.active_backend.setFont(big)
        self.eager_radio = QRadioButton("Eager")
        self.compiled_radio = QRadioButton("Compiled")
        group = QButtonGroup(self)
        group.addButton(self.eager_radio)
        group.addButton(self.compiled_radio)
        (self.compiled_radio if backend == "compiled" else self.eager_radio).setChecked(True)
        self.compiled_radio.toggled.connect(self._on_compiled_toggled)
        self.mode_combo = QComboBox()
        for i, (name, help_text) in enumerate(MODE_HELP.items()):
            self.mode_combo.addItem(name)
            self.mode_combo.setItemData(i, help_text, Qt.ItemDataRole.ToolTipRole)
        self._mode = mode  # None: the line's device chooses, until the combo shows a line's or a choice
        if mode:
            self.mode_combo.setCurrentText(mode)
        self.mode_combo.currentTextChanged.connect(self._on_mode_shown)
        self.compile_bar = QProgressBar()
        self.compile_bar.setRange(0, 100)
        self.compile_stage = ElidedLabel()
        self.cancel_compile = QPushButton("Cancel")
        self.cancel_compile.clicked.connect(self._cancel)
        self._idle()
        grid.addWidget(QLabel("Active"), 0, 0)
        grid.addWidget(self.active_backend, 0, 1, 1, 2)
        grid.addWidget(self.eager_radio, 1, 0)
        grid.addWidget(self.compiled_radio, 1, 1)
        grid.addWidget(self.mode_combo, 1, 2)
        grid.addWidget(self.compile_bar, 2, 0, 1, 2)
        grid.addWidget(self.cancel_compile, 2, 2)
        grid.addWidget(self.compile_stage, 3, 0, 1, 3)

    @property
    def backend(self) -> str:
        return "compiled" if self.compiled_radio.isChecked() else "eager"

    @property
    def mode(self) -> str | None:
        return self._mode

    def _on_mode_shown(self, mode: str) -> None:
        self._mode = mode

    def bind(self, line: Line) -> None:
        """Show ``line``'s switch from now on; its events reach this panel in the GUI thread."""
        self._line = line
        self._relay = Relay()
        self._relay.sent.connect(lambda event, line=line: self._on_event(line, event))
        line.switch.subscribe(self._relay.sent.emit)
        self._set_radio(line.switch.wanted)
        self._offer_modes(line.switch.usable_modes())
        self.mode_combo.setCurrentText(line.switch.mode)
        self._idle()
        if line.switch.wanted == "compiled":
            self.compile_bar.setFormat("waiting for the first frame")
            self.mode_combo.setEnabled(False)

    def unbind(self) -> None:
        """The line is stopping: a compile the operator started ends as cancelled, one ahead quietly."""
        line, self._line = self._line, None
        if line is not None and line.switch.compiling and not line.switch.compiling_ahead:
            self._idle("cancelled")
        else:
            self._idle()

    def show_active(self, label: str) -> None:
        self.active_backend.setText(label)

    def tick(self) -> None:
        """Between the compile's own reports, the stage's time keeps counting."""
        line = self._line
        if line is not None and line.switch.compiling and line.switch.last_progress is not None:
            self._show_progress(line.switch.last_progress)

    # The operator -----------------------------------------------------------------------------
    def _on_compiled_toggled(self, compiled: bool) -> None:
        line = self._line
        if line is None:
            return
        if not compiled:
            line.switch.want_eager()
            if not line.switch.compiling:
                self._idle()
            return
        line.switch.want_compiled(self.mode)
        if line.switch.compiling:
            self.cancel_compile.setEnabled(True)
            self.mode_combo.setEnabled(False)
            if self.compile_bar.format() in ("idle", "cancelled", "failed", "failed ahead"):
                self.compile_bar.setFormat("starting %p%")

    def _cancel(self) -> None:
        if self._line is not None:
            self._line.switch.cancel()

    # The switch's events ----------------------------------------------------------------------
    def _on_event(self, line: Line, e: SwitchEvent) -> None:
        if line is not self._line:  # an old line's news is stale
            return
        p = e.progress
        if e.kind == PROGRESS and p is not None:
            self.compile_bar.setFormat(f"{'ahead: ' if e.ahead else ''}{p.stage} %p%")
            self.cancel_compile.setEnabled(not e.ahead)
            self.mode_combo.setEnabled(False)
            self._compile_started = time.perf_counter() - p.elapsed_s
            self._show_progress(p)
        elif e.kind == READY:
            self._done()
            if e.detail == EARLIER:
                self.compile_stage.setText(f"ready: {EARLIER}")
                self.compile_bar.setFormat("ready %p%")
                self.compile_bar.setValue(100)
            elif e.ahead and p is not None:
                self.compile_bar.setFormat(READY_AHEAD)
                self.compile_stage.setText(f"compiled ahead, {p.detail}, in {p.elapsed_s:.1f} s")
        elif e.kind == FAILED and e.ahead:  # nobody asked: no alarm, the switch tries again
            self._done()
            self.compile_bar.setFormat("failed ahead")
            self.compile_stage.setText(f"compiling ahead failed: {e.detail}")
        elif e.kind in (FAILED, FELL_BACK):
            self._set_radio("eager")
            self._done()
            self.compile_bar.setFormat("failed")
            self.error.emit(f"{e.detail}; staying on eager")
        elif e.kind == CANCELLED:
            self._set_radio(line.switch.wanted)
            self._idle("idle" if e.ahead else "cancelled")
        elif e.kind == SWAPPED:
            self.active_backend.setText(e.detail)

    def _offer_modes(self, usable: list[str]) -> None:
        """Modes this line's device cannot run stay listed (the operator sees what exists) but greyed."""
        items = self.mode_combo.model()
        for i in range(self.mode_combo.count()):
            items.item(i).setEnabled(self.mode_combo.itemText(i) in usable)

    def _show_progress(self, p: CompileProgress) -> None:
        """The bar and the stage line, as of now: between the compile's reports the time goes on."""
        elapsed = time.perf_counter() - self._compile_started
        fraction, left = p.estimate(elapsed)
        self.compile_bar.setValue(round(fraction * 100))
        said = [p.stage, f"{elapsed:.0f} s", left, p.detail]
        self.compile_stage.setText(" · ".join(part for part in said if part))

    def _set_radio(self, backend: str) -> None:
        for radio in (self.eager_radio, self.compiled_radio):
            radio.blockSignals(True)
        (self.compiled_radio if backend == "compiled" else self.eager_radio).setChecked(True)
        for radio in (self.eager_radio, self.compiled_radio):
            radio.blockSignals(False)

    def _done(self) -> None:
        self.cancel_compile.setEnabled(False)
        self.mode_combo.setEnabled(True)

    def _idle(self, text: str = "idle") -> None:
        self._done()
        self.compile_bar.setValue(0)
        self.compile_bar.setFormat(text)
        self.compile_stage.setText("")
