"""The operator's window: live view on the left, line controls and gauges on the right."""

from __future__ import annotations

import gc
import time
from collections import deque
from pathlib import Path

import numpy as np
import psutil
import pyqtgraph as pg
import torch
from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QFont, QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSlider,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector.inference.backends import EagerBackend
from inspector.inference.frame_pipeline import PIPELINE_MODES, CompileProgress
from inspector.inference.model import DetectorModel
from inspector.metrics import RateMeter
from inspector.pipeline import InspectionResult
from inspector.storage.database import open_database
from inspector.storage.writer import LOG_RECOVERED, DefectWriter
from inspector.ui.history_view import HistoryView
from inspector.ui.live_view import LiveView, class_colour
from inspector.ui.settings import remember, station_settings
from inspector.ui.station import Line, LineBuilder, LineConfig
from inspector.ui.workers import CompileThread

PLOT_SECONDS = 60.0


class _Errors(QObject):
    """Carries messages from worker threads to the GUI thread."""

    message = Signal(str)


READY_AHEAD = "ready: flip to Compiled"  # the bar once a compile started ahead is done


class MainWindow(QMainWindow):
    def __init__(
        self, config: LineConfig, db_path: Path, backend: str = "eager", mode: str = "reduce-overhead"
    ) -> None:
        super().__init__()
        # Python's collector runs in whichever thread allocates; one that frees Qt objects outside
        # the GUI thread crashes the app (seen: in the model loader's thread). Collect here instead.
        self._collector = GarbageCollector(interval=1.0)
        self._want_compiled = backend == "compiled"  # remembered: switch once frames arrive
        self._initial_mode = mode
        self.setWindowTitle("inspector — inspection station")
        self.config = config
        self._errors = _Errors()
        self._errors.message.connect(self._on_writer_message)
        self.db = open_database(db_path)
        self.writer = DefectWriter(self.db, db_path, on_error=self._errors.message.emit).start()
        self._models: dict[tuple[str, str], DetectorModel] = {}
        self.line: Line | None = None
        self._builder: LineBuilder | None = None
        self.compile_thread: CompileThread | None = None
        self._compiling_ahead = False  # the current compile was started ahead, not by the switch
        self._ahead_due = False  # the line's first frame should start a compile ahead
        self._old_compiles: list[CompileThread] = []
        self._serial = 0
        self.display_rate = RateMeter()
        self._history: deque[tuple[float, float, float]] = deque()  # (t, infer ms, capture→display ms)
        self._display_latency: deque[float] = deque(maxlen=600)

        self.view = LiveView()
        live = QWidget()
        outer = QVBoxLayout(live)
        outer.setContentsMargins(6, 6, 6, 6)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.hide()
        outer.addWidget(self.banner)
        body = QHBoxLayout()
        body.addWidget(self.view, stretch=1)
        body.addWidget(self._scrolling(self._build_side_panel()))
        outer.addLayout(body, stretch=1)
        self.history = HistoryView(self.db, db_path.parent)
        self.tabs = QTabWidget()
        self.tabs.addTab(live, "Live")
        self.tabs.addTab(self.history, "History")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.setCentralWidget(self.tabs)

        self._poll = QTimer(self, interval=15, timeout=self._show_newest)
        self._gauges = QTimer(self, interval=250, timeout=self._update_gauges)
        self._poll.start()
        self._gauges.start()
        self.resize(1500, 860)

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.history:
            self.writer.flush()
            self.history.reload()

    # Layout ----------------------------------------------------------------------------------
    def _build_side_panel(self) -> QWidget:
        panel = QWidget()
        panel.setFixedWidth(380)
        col = QVBoxLayout(panel)
        col.setContentsMargins(0, 0, 0, 0)

        line_box = QGroupBox("Line")
        form = QFormLayout(line_box)
        self.source_edit = QLineEdit(self.config.source)
        self.source_edit.editingFinished.connect(lambda: self._change_line(source=self.source_edit.text()))
        source_menu = QMenu(self)
        source_menu.addAction("Synthetic line", lambda: self._change_line(source="synthetic"))
        source_menu.addAction("Camera 0", lambda: self._change_line(source="0"))
        source_menu.addAction("Video file…", self._pick_video)
        source_menu.addAction("Image folder…", self._pick_folder)
        source_menu.addAction("Stream URL…", self._pick_url)
        source_button = QToolButton(text="▾", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup)
        source_button.setMenu(source_menu)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source_edit)
        source_row.addWidget(source_button)
        self.model_label = QLabel(Path(self.config.weights).name)
        model_button = QPushButton("Open…")
        model_button.clicked.connect(self._pick_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_label, stretch=1)
        model_row.addWidget(model_button)
        self.device_combo = QComboBox()
        devices = ["auto", "cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        self.device_combo.addItems(
            devices if self.config.device in devices else [*devices, self.config.device]
        )
        self.device_combo.setCurrentText(self.config.device)
        self.device_combo.currentTextChanged.connect(lambda d: self._change_line(device=d))
        self.start_button = QPushButton("Start")
        self.start_button.setCheckable(True)
        self.start_button.toggled.connect(self._on_start_toggled)
        self.start_button.setMinimumHeight(36)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setMinimumHeight(36)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, stretch=2)
        buttons.addWidget(self.pause_button, stretch=1)
        form.addRow("Source", source_row)
        form.addRow("Model", model_row)
        form.addRow("Device", self.device_combo)
        form.addRow(buttons)
        col.addWidget(line_box)

        backend_box = QGroupBox("Inference")
        grid = QGridLayout(backend_box)
        self.active_backend = QLabel("—")
        big = QFont(self.font())
        big.setPointSize(15)
        big.setBold(True)
        self.active_backend.setFont(big)
        self.active_backend.setWordWrap(True)  # "compiled (reduce-overhead)" is wider than its column
        self.eager_radio = QRadioButton("Eager")
        self.compiled_radio = QRadioButton("Compiled")
        self.eager_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.eager_radio)
        group.addButton(self.compiled_radio)
        self.compiled_radio.toggled.connect(self._on_backend_toggled)
        self.mode_combo = QComboBox()
        for i, (name, how) in enumerate(PIPELINE_MODES.items()):
            self.mode_combo.addItem(name)
            self.mode_combo.setItemData(i, how.help, Qt.ItemDataRole.ToolTipRole)
        self.mode_combo.setCurrentText(self._initial_mode)
        self.compile_bar = QProgressBar()
        self.compile_bar.setRange(0, 100)
        self.compile_bar.setValue(0)
        self.compile_bar.setFormat("idle")
        self.compile_stage = QLabel("")
        self.compile_stage.setWordWrap(True)
        self.cancel_compile = QPushButton("Cancel")
        self.cancel_compile.setEnabled(False)
        self.cancel_compile.clicked.connect(self._cancel_compile)
        grid.addWidget(QLabel("Active"), 0, 0)
        grid.addWidget(self.active_backend, 0, 1, 1, 2)
        grid.addWidget(self.eager_radio, 1, 0)
        grid.addWidget(self.compiled_radio, 1, 1)
        grid.addWidget(self.mode_combo, 1, 2)
        grid.addWidget(self.compile_bar, 2, 0, 1, 2)
        grid.addWidget(self.cancel_compile, 2, 2)
        grid.addWidget(self.compile_stage, 3, 0, 1, 3)
        col.addWidget(backend_box)

        rules_box = QGroupBox("Defect rules")
        rules_col = QVBoxLayout(rules_box)
        row = QHBoxLayout()
        row.addWidget(QLabel("min. confidence"))
        self.conf_slider = QSlider(Qt.Orientation.Horizontal)
        self.conf_slider.setRange(5, 95)
        self.conf_slider.setValue(round(self.config.min_confidence * 100))
        self.conf_value = QLabel(f"{self.config.min_confidence:.2f}")
        self.conf_slider.valueChanged.connect(self._on_conf_changed)
        row.addWidget(self.conf_slider)
        row.addWidget(self.conf_value)
        rules_col.addLayout(row)
        self.class_list = QListWidget()
        self.class_list.setFlow(QListWidget.Flow.LeftToRight)
        self.class_list.setWrapping(True)
        self.class_list.setFixedHeight(56)
        self.class_list.itemChanged.connect(self._on_classes_changed)
        rules_col.addWidget(QLabel("classes that count as defects"))
        rules_col.addWidget(self.class_list)
        col.addWidget(rules_box)

        gauges = QGroupBox("Gauges")
        g = QGridLayout(gauges)
        self.fps_labels = {name: QLabel("-") for name in ("capture", "inference", "display")}
        for i, (name, label) in enumerate(self.fps_labels.items()):
            label.setFont(big)
            g.addWidget(QLabel(f"{name} fps"), 0, i, alignment=Qt.AlignmentFlag.AlignHCenter)
            g.addWidget(label, 1, i, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.latency_table = QLabel()
        self.latency_table.setTextFormat(Qt.TextFormat.RichText)
        g.addWidget(self.latency_table, 2, 0, 1, 3)
        self.plot = pg.PlotWidget(background="#111418")
        self.plot.setFixedHeight(130)
        self.plot.setLabel("left", "ms")
        self.plot.setLabel("bottom", "seconds ago")
        self.plot.addLegend(offset=(5, 5))
        self.plot.setXRange(-PLOT_SECONDS, 0)
        self.infer_curve = self.plot.plot(pen=pg.mkPen("#56B4E9", width=2), name="infer")
        self.total_curve = self.plot.plot(pen=pg.mkPen("#E69F00", width=2), name="capture→display")
        g.addWidget(self.plot, 3, 0, 1, 3)
        self.misc_label = QLabel()
        g.addWidget(self.misc_label, 4, 0, 1, 3)
        col.addWidget(gauges)

        counts_box = QGroupBox("Defects this run")
        self.counts_label = QLabel("-")
        self.counts_label.setTextFormat(Qt.TextFormat.RichText)
        self.counts_label.setWordWrap(True)
        QVBoxLayout(counts_box).addWidget(self.counts_label)
        col.addWidget(counts_box)
        col.addStretch(1)
        return panel

    @staticmethod
    def _scrolling(panel: QWidget) -> QScrollArea:
        """On a short screen (or with the banner shown) the panel scrolls instead of squeezing its
        gauges on top of each other."""
        area = QScrollArea()
        area.setWidget(panel)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setFixedWidth(panel.width() + area.verticalScrollBar().sizeHint().width())
        return area

    # Line control ----------------------------------------------------------------------------
    def start_line(self) -> None:
        """Build the line in a worker thread; it starts when built (see ``_on_line_built``)."""
        if self.line is not None or self._builder is not None:
            return
        self.view.show_message("Starting…")
        self.start_button.setEnabled(False)
        builder = LineBuilder(self.config, self.writer, self._models)
        builder.built.connect(self._on_line_built)
        builder.failed.connect(self._on_line_failed)
        self._builder = builder
        builder.start()

    def _on_line_built(self, line: Line) -> None:
        if self._builder is None:  # the window closed while the line was being built
            return
        self._builder_done()
        self.line = line
        line.start()
        line.inspection.ended.connect(self._on_stream_ended)
        line.inspection.backend_failed.connect(self._on_compile_failed)
        self._serial = 0
        self._ahead_due = line.compiles_ahead
        self._history.clear()
        self._display_latency.clear()
        self.eager_radio.setChecked(True)
        self.model_label.setText(line.weights_name)
        self.history.class_ids = {name: i for i, name in line.model.names.items()}
        self.source_edit.setText(self.config.source)
        self._fill_classes(line.model.names)
        self.pause_button.setChecked(False)
        self.start_button.setChecked(True)
        self.start_button.setText("Stop")
        self.hide_error()

    def _on_line_failed(self, reason: str) -> None:
        self._builder_done()
        self.show_error(reason)
        self.view.show_message("Line stopped")
        self.start_button.setChecked(False)

    def _builder_done(self) -> None:
        if self._builder is not None:
            self._builder.wait()
            self._builder = None
        self.start_button.setEnabled(True)

    def stop_line(self) -> None:
        self._cancel_compile()
        if self.line is None:
            return
        self.line.inspection.ended.disconnect(self._on_stream_ended)  # an old line's news is stale
        self.line.stop()
        self.line = None
        self.start_button.setChecked(False)
        self.start_button.setText("Start")
        self.view.show_message("Line stopped")

    def _change_line(self, **changes: str) -> None:
        """A new source, model or device: the line restarts with it if it was running."""
        new = self.config.with_(**changes)
        if new == self.config:
            return
        if "weights" in changes:
            new = new.with_(defect_classes=None)
        self.config = new
        self.source_edit.setText(new.source)
        self.model_label.setText(Path(new.weights).name)
        if self.line is not None:
            self.stop_line()
            self.start_line()

    def _pick_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Video file", "", "Videos (*.mp4 *.avi *.mkv *.mov *.m4v *.webm)"
        )
        if path:
            self._change_line(source=path)

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of images")
        if path:
            self._change_line(source=path)

    def _pick_url(self) -> None:
        url, ok = QInputDialog.getText(self, "Stream", "RTSP or HTTP URL:", text="rtsp://")
        if ok and url.strip():
            self._change_line(source=url.strip())

    def _pick_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Detect model", "", "ultralytics models (*.pt *.yaml)")
        if path:
            self._change_line(weights=path)

    def _fill_classes(self, names: dict[int, str]) -> None:
        chosen = set(self.config.defect_classes or names.values())
        self.class_list.blockSignals(True)
        self.class_list.clear()
        for i, name in sorted(names.items()):
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in chosen else Qt.CheckState.Unchecked)
            swatch = QPixmap(12, 12)
            swatch.fill(class_colour(i))
            item.setIcon(QIcon(swatch))
            self.class_list.addItem(item)
        self.class_list.blockSignals(False)

    def _on_classes_changed(self, _item: QListWidgetItem) -> None:
        items = [self.class_list.item(i) for i in range(self.class_list.count())]
        chosen = tuple(it.text() for it in items if it.checkState() == Qt.CheckState.Checked)
        self.config = self.config.with_(defect_classes=None if len(chosen) == len(items) else chosen)
        if self.line is not None:
            self.line.set_rules(self.config.min_confidence, self.config.defect_classes)

    def _on_pause_toggled(self, paused: bool) -> None:
        if self.line is None:
            self.pause_button.setChecked(False)
            return
        (self.line.inspection.paused.set if paused else self.line.inspection.paused.clear)()
        self.pause_button.setText("Resume" if paused else "Pause")
        self.view.show_message("Paused" if paused else "")

    def _on_start_toggled(self, checked: bool) -> None:
        if checked and self.line is None:
            self.start_line()
        elif not checked and self.line is not None:
            self.stop_line()

    def _on_stream_ended(self, error: str) -> None:
        if error:
            self.show_error(error)
        self.stop_line()
        self.view.show_message("Source ended" if not error else "Source lost")

    def _on_conf_changed(self, value: int) -> None:
        self.conf_value.setText(f"{value / 100:.2f}")
        self.config = self.config.with_(min_confidence=value / 100)
        if self.line is not None:
            self.line.set_rules(self.config.min_confidence, self.config.defect_classes)

    # Backends --------------------------------------------------------------------------------
    def _on_backend_toggled(self, compiled: bool) -> None:
        if self.line is None:
            return
        if not compiled:
            if self._compiling_ahead:  # nobody asked for it: it goes on, for a later switch
                return
            self._cancel_compile()
            self.line.inspection.swap_backend(EagerBackend(self.line.model.network))
            self.compile_bar.setFormat("idle")
            self.compile_bar.setValue(0)
            return
        if self._compiling_ahead:  # the operator now waits for the compile already running
            self._compiling_ahead = False
            self.cancel_compile.setEnabled(True)
            return
        _, newest = self.line.latest.get()
        if newest is None:
            self.show_error("no frame yet to size the compiled model; try again once frames arrive")
            self.eager_radio.setChecked(True)
            return
        compiled, mode = self.line.compiled, self.mode_combo.currentText()
        shape = (newest.frame.height, newest.frame.width)
        if compiled.ready and compiled.mode == mode and compiled.frame_shape == shape:
            self.compile_stage.setText("ready: compiled earlier in this run")
            self.compile_bar.setFormat("ready %p%")
            self.compile_bar.setValue(100)
            self.line.inspection.swap_backend(compiled)
            return
        self._start_compile(shape, mode)

    def _compile_ahead(self, newest: InspectionResult) -> None:
        """The line's first frame on a GPU: a compile the on-disk cache holds takes seconds, so it is
        done now, while eager serves, and the operator's switch is then live at the next frame."""
        shape = (newest.frame.height, newest.frame.width)
        mode = self.mode_combo.currentText()
        if self.compile_thread is None and self.line.compiled.is_cached(shape, mode):
            self._compiling_ahead = True
            self._start_compile(shape, mode)
            self.cancel_compile.setEnabled(False)  # the operator did not start it

    def _start_compile(self, shape: tuple[int, int], mode: str) -> None:
        thread = CompileThread(self.line.compiled, mode, shape)
        thread.progress.connect(self._on_compile_progress)
        thread.ready.connect(self._on_compile_ready)
        thread.failed.connect(self._on_compile_failed)
        self.compile_thread = thread
        self.cancel_compile.setEnabled(True)
        self.mode_combo.setEnabled(False)
        self.compile_bar.setFormat("starting %p%")
        self._compile_stage = CompileProgress("starting", 0.0, 0.0)
        self._compile_started = time.perf_counter()
        thread.start()

    def _on_compile_progress(self, p: CompileProgress) -> None:
        self.compile_bar.setValue(round(p.fraction * 100))
        ahead = "ahead: " if self._compiling_ahead else ""  # the operator has not asked for it
        self.compile_bar.setFormat(f"{ahead}{p.stage} %p%")
        self._compile_stage = p
        self._compile_started = time.perf_counter() - p.elapsed_s
        self._show_compile_stage()

    def _show_compile_stage(self) -> None:
        """The current stage with its time so far, ticking between the compile's own reports."""
        p = self._compile_stage
        detail = f" · {p.detail}" if p.detail else ""
        elapsed = time.perf_counter() - self._compile_started if self.compile_thread else p.elapsed_s
        self.compile_stage.setText(f"{p.stage}{detail} · {elapsed:.1f} s")

    def _on_compile_ready(self, backend) -> None:
        ahead = self._finish_compile()
        if self.line is None:
            return
        if self.compiled_radio.isChecked():
            self.line.inspection.swap_backend(backend)
        elif ahead:
            p = self._compile_stage
            self.compile_bar.setFormat(READY_AHEAD)
            self.compile_stage.setText(f"compiled ahead, {p.detail}, in {p.elapsed_s:.1f} s")

    def _on_compile_failed(self, reason: str) -> None:
        if self._finish_compile():  # the operator did not ask: no alarm, the switch tries again
            self.compile_bar.setFormat("failed ahead")
            self.compile_stage.setText(f"compiling ahead failed: {reason}")
            return
        self.eager_radio.setChecked(True)  # before the bar: flipping to eager resets it to "idle"
        self.compile_bar.setFormat("failed")
        self.show_error(f"{reason}; staying on eager")

    def _cancel_compile(self) -> None:
        if self.compile_thread is not None:
            self.compile_thread.cancel()
            ahead = self._finish_compile()  # ended with its line: nobody cancelled it
            if self.compiled_radio.isChecked():
                self.eager_radio.setChecked(True)
            self.compile_bar.setValue(0)
            self.compile_bar.setFormat("idle" if ahead else "cancelled")
            self.compile_stage.setText("")

    def _finish_compile(self) -> bool:
        """Ends the bookkeeping of the current compile; whether it was one started ahead.

        The thread may still be returning from run() (its last signal is queued to us): a QThread
        destroyed while running aborts the process, so it is kept until it has finished.
        """
        self._old_compiles = [t for t in self._old_compiles if not t.isFinished()]
        if self.compile_thread is not None:
            self._old_compiles.append(self.compile_thread)
        self.compile_thread = None
        self.cancel_compile.setEnabled(False)
        self.mode_combo.setEnabled(True)
        ahead, self._compiling_ahead = self._compiling_ahead, False
        return ahead

    # Drawing ---------------------------------------------------------------------------------
    def _show_newest(self) -> None:
        if self.line is None:
            return
        serial, result = self.line.latest.get()
        if result is None or serial == self._serial:
            return
        self._serial = serial
        self.view.show_result(result)
        self.view.repaint()
        now = time.perf_counter()
        self.display_rate.tick(now)
        shown_ms = (now - result.frame.captured_at) * 1e3
        self._display_latency.append(shown_ms)
        self._history.append((now, result.times.infer_ms, shown_ms))
        while self._history and now - self._history[0][0] > PLOT_SECONDS:
            self._history.popleft()
        self.active_backend.setText(result.backend)
        if self._want_compiled:
            self._want_compiled = False
            self.compiled_radio.setChecked(True)
        elif self._ahead_due:
            self._compile_ahead(result)
        self._ahead_due = False

    def _update_gauges(self) -> None:
        line = self.line
        if line is None:
            return
        if self.compile_thread is not None:
            self._show_compile_stage()
        self.fps_labels["capture"].setText(f"{line.capture.rate.rate():.1f}")
        self.fps_labels["inference"].setText(f"{line.inspection.rate.rate():.1f}")
        self.fps_labels["display"].setText(f"{self.display_rate.rate():.1f}")
        rows = []
        for stage in ("capture", "pre", "infer", "post"):
            p = line.inspection.latency.percentiles(stage)
            rows.append((stage if stage != "capture" else "queue", p))
        if self._display_latency:
            q = np.percentile(np.array(self._display_latency), (50, 95, 99))
            rows.append(("capture→display", {"p50": q[0], "p95": q[1], "p99": q[2]}))
        cells = "".join(
            f"<tr><td>{name}</td><td align=right>{p['p50']:.1f}</td><td align=right>{p['p95']:.1f}</td>"
            f"<td align=right>{p['p99']:.1f}</td></tr>"
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
        gpu = ""
        if line.model.device.type == "cuda":
            gpu = f", GPU {torch.cuda.memory_allocated(line.model.device) / 2**20:.0f} MiB"
        self.misc_label.setText(
            f"dropped {line.slot.dropped} frames · {line.device_name}<br>memory {memory:.0f} MiB{gpu}"
        )
        counts = line.inspection.defect_counts
        names = line.model.names
        self.counts_label.setText(
            " ".join(
                f"<span style='color:{class_colour(i).name()}'>■</span>&nbsp;{name}&nbsp;"
                f"<b>{counts.get(name, 0)}</b>&nbsp; "  # wraps between classes, never inside one
                for i, name in sorted(names.items())
            )
            + f"<br>frames inspected <b>{line.inspector.frames}</b>"
        )

    # Errors and closing ----------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self._show_banner(f"⚠ {message}", "#D62728")

    def show_notice(self, message: str) -> None:
        """Good news after an error (the log writes again): green, so nobody looks twice."""
        self._show_banner(f"✓ {message}", "#2CA02C")

    def _show_banner(self, text: str, colour: str) -> None:
        self.banner.setStyleSheet(
            f"background:{colour};color:white;font-weight:bold;padding:8px;border-radius:4px;"
        )
        self.banner.setText(text)
        self.banner.show()

    def _on_writer_message(self, message: str) -> None:
        if message == LOG_RECOVERED:
            self.show_notice(f"{message}: the defects kept in memory are saved")
        else:
            self.show_error(message)

    def hide_error(self) -> None:
        self.banner.hide()

    def closeEvent(self, event: QCloseEvent) -> None:
        remember(
            station_settings(),
            self.config,
            "compiled" if self.compiled_radio.isChecked() else "eager",
            self.mode_combo.currentText(),
            self.saveGeometry(),
        )
        self._poll.stop()
        self._gauges.stop()
        if self._builder is not None:
            self._builder.wait()  # a line being built is let finish; its run is closed unstarted
            orphan, self._builder = self._builder.line, None
            if orphan is not None:
                self.writer.end_run(orphan.run_id, 0)
        self.stop_line()
        for thread in self._old_compiles:
            thread.wait()  # done or cancelled (its worker was ended): returns at once
        self.history.shutdown()
        self.writer.stop()
        self.db.dispose()
        self._collector.timer.stop()
        gc.enable()  # the collector's timer is gone with this window
        super().closeEvent(event)
