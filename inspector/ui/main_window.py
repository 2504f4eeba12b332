"""The operator's window: live view on the left, the panels on the right, the history in a tab.

The window only binds widgets: the station (defect log, models) and each line come from
``inspector.line``, built off the GUI thread and run by a thin QThread.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from pathlib import Path

from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QMainWindow,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.errors import InspectorError
from inspector.line.config import LineConfig
from inspector.line.line import Line
from inspector.line.recipes import Recipe
from inspector.line.station import LOG_RECOVERED, Station
from inspector.outputs.config import OutputsConfig
from inspector.outputs.messages import COMPILING, RUNNING
from inspector.shifts import DEFAULT_SHIFTS, Shifts
from inspector.storage.retention import DiskBudget
from inspector.ui.banner import Banner
from inspector.ui.camera_strip import CameraStrip
from inspector.ui.history_view import HistoryView
from inspector.ui.live_view import LEFT_OUT, PAUSED, SOURCE_ENDED, SOURCE_LOST, STARTING, STOPPED, LiveView
from inspector.ui.panels.counts_panel import CountsPanel
from inspector.ui.panels.gauges_panel import GaugesPanel
from inspector.ui.panels.inference_panel import InferencePanel
from inspector.ui.panels.line_panel import LinePanel
from inspector.ui.panels.outputs_panel import OutputsPanel
from inspector.ui.panels.rules_panel import RulesPanel
from inspector.ui.settings import remember, station_settings
from inspector.ui.workers import LineBuilder, LineThread, Relay

GAUGE_SAMPLES = 600  # the latency table describes the last this many frames


class MainWindow(QMainWindow):
    def __init__(
        self,
        config: LineConfig,
        db_path: Path,
        shifts: Shifts | None = None,
        plant: OutputsConfig | None = None,
        recipes: Mapping[int, Recipe] | None = None,
        budget: DiskBudget | None = None,
    ) -> None:
        super().__init__()
        # Python's collector runs in whichever thread allocates; one that frees Qt objects outside
        # the GUI thread crashes the app (seen: in the model loader's thread). Collect here instead.
        self._collector = GarbageCollector(interval=1.0)
        self.setWindowTitle("inspector — inspection station")
        self.config = config
        shifts = shifts or Shifts.parse(DEFAULT_SHIFTS)
        self._messages = Relay()
        self._messages.sent.connect(self._on_writer_message)
        self.station = Station(
            db_path, on_message=self._messages.sent.emit, outputs=plant, recipes=recipes, budget=budget
        )
        self.line: Line | None = None
        self.inspection_thread: LineThread | None = None
        self._builder: LineBuilder | None = None
        self._fallback: LineConfig | None = None  # the line to go back to if a new model will not load
        self._keep_banner = False  # the next line built keeps the banner that says why it is that line
        self._followed: Recipe | None = None  # the recipe the window's settings were last set to

        big = QFont(self.font())
        big.setPointSize(15)
        big.setBold(True)
        recipes = [self.station.recipes[n] for n in sorted(self.station.recipes)]
        self.line_panel = LinePanel(config, recipes)
        self.line_panel.recipe_chosen.connect(self.choose_recipe)
        self.line_panel.trigger_clicked.connect(
            lambda: self.line.trigger() if self.line is not None else None
        )
        self.line_panel.change_requested.connect(lambda changes: self._change_line(**changes))
        self.line_panel.start_toggled.connect(self._on_start_toggled)
        self.line_panel.pause_toggled.connect(self._on_pause_toggled)
        self.inference = InferencePanel(config.backend, config.mode, big)
        self.inference.error.connect(self.show_error)
        self.rules = RulesPanel(config.min_confidence, config.defect_classes)
        self.rules.changed.connect(self._on_rules_changed)
        rates = QFont(big)
        rates.setPointSize(12)  # three to a row
        self.gauges = GaugesPanel(rates)
        self.counts = CountsPanel(self.station.db, shifts)
        self.plant = OutputsPanel(self.station.outputs)

        self.view = LiveView()
        self.cameras = CameraStrip()  # a line of several cameras: each one's thumbnail
        self.cameras.chosen.connect(self._choose_camera)
        self._camera = 0  # the camera in the big view
        self._serials: list[int] = []  # the last result shown of each camera
        live = QWidget()
        outer = QVBoxLayout(live)
        outer.setContentsMargins(6, 6, 6, 6)
        self.banner = Banner()
        outer.addWidget(self.banner)
        body = QHBoxLayout()
        views = QVBoxLayout()
        views.addWidget(self.view, stretch=1)
        views.addWidget(self.cameras)
        body.addLayout(views, stretch=1)
        self.side = self._side_panel()
        body.addWidget(self.side)
        outer.addLayout(body, stretch=1)
        self.history = HistoryView(self.station.db, self.station.db_path.parent)
        self.tabs = QTabWidget()
        self.tabs.addTab(live, "Live")
        self.tabs.addTab(self.history, "History")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.setCentralWidget(self.tabs)

        # the keys of the line's two buttons (a text field keeps its own spaces and returns)
        panel = self.line_panel
        for keys, button in (("Space", panel.pause_button), ("Ctrl+Return", panel.start_button)):
            QShortcut(QKeySequence(keys), self, activated=button.click)
        self._poll = QTimer(self, interval=15, timeout=self._show_newest)
        self._gauges = QTimer(self, interval=250, timeout=self._update_gauges)
        self._poll.start()
        self._gauges.start()
        # the live view's least and the side panel beside it; the panel scrolls below this height
        self.setMinimumSize(900, 560)
        room = self.screen().availableGeometry()  # a first start fits the screen it opens on
        self.resize(min(1500, room.width()), min(860, room.height()))

    def _side_panel(self) -> QScrollArea:
        """What the operator needs always in view (the line, its parts, the inference), and below
        it one of the gauges, the defect rules or the plant links, chosen by a tab, so the whole
        fits a 1280x800 screen; on a shorter one the panel scrolls rather than squeezing."""
        panel = QWidget()
        panel.setFixedWidth(380)
        col = QVBoxLayout(panel)
        col.setContentsMargins(0, 0, 0, 0)
        for box in (self.line_panel, self.counts, self.inference):
            col.addWidget(box)
        self.details = QTabWidget(documentMode=True)
        for box in (self.gauges, self.rules, self.plant):
            self.details.addTab(box, box.title())
            box.setTitle("")  # the tab names it
            box.setFlat(True)
            box.layout().setContentsMargins(4, 4, 4, 0)
        col.addWidget(self.details)
        col.addStretch(1)
        area = QScrollArea()
        area.setWidget(panel)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setFixedWidth(panel.width() + area.verticalScrollBar().sizeHint().width())
        return area

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.history:
            self.station.writer.flush()
            self.history.reload()

    def current_config(self) -> LineConfig:
        """The line as the operator has set it now, backend switch included."""
        return self.config.with_(backend=self.inference.backend, mode=self.inference.mode)

    # Line control ----------------------------------------------------------------------------
    def start_line(self) -> None:
        """Build the line in a worker thread; it starts when built (see ``_on_line_built``)."""
        if self.line is not None or self._builder is not None:
            return
        self._show_state(STARTING)
        self.line_panel.start_button.setEnabled(False)
        builder = LineBuilder(self.station, self.current_config(), GAUGE_SAMPLES)
        builder.built.connect(self._on_line_built)
        builder.failed.connect(self._on_line_failed)
        self._builder = builder
        builder.start()

    def _on_line_built(self, line: Line) -> None:
        if self._builder is None:  # the window closed while the line was being built
            return
        self._builder_done()
        self.line = line
        names = [camera.name for camera in line.cameras]
        self._serials = [0] * len(names)
        self._camera = 0
        self.cameras.set_cameras(names, line.part_classes)
        self.view.title = names[0] if len(names) > 1 else ""
        self.gauges.clear()
        self.inference.bind(line)
        self.inspection_thread = LineThread(line)
        self.inspection_thread.ended.connect(self._on_stream_ended)
        self.inspection_thread.start()
        self.history.class_ids = {name: i for i, name in line.model.names.items()}
        self.view.part_classes = line.part_classes
        self.line_panel.show_config(self.config, line.model.sha256)
        defect_names = {i: n for i, n in line.model.names.items() if n not in line.part_classes}
        self.rules.fill_classes(defect_names, self.config.defect_classes)
        self.line_panel.show_running(True)
        self._show_state(None)
        self._fallback = None
        if not self._keep_banner:  # a line built after a refused model keeps saying why
            self.hide_error()
        self._keep_banner = False

    def _on_line_failed(self, reason: str) -> None:
        self._builder_done()
        fallback, self._fallback = self._fallback, None
        if fallback is not None:  # the new model's fault: the last good one runs on, and that is said
            self.config = fallback
            self.line_panel.show_config(fallback)
            self.show_error(f"{reason}; staying on {Path(fallback.weights).name}")
            self._keep_banner = True
            self.start_line()
            return
        self.show_error(reason)
        self._show_state(STOPPED)
        self.line_panel.show_running(False)

    def _builder_done(self) -> None:
        if self._builder is not None:
            self._builder.wait()
            self._builder = None
        self.line_panel.start_button.setEnabled(True)

    def stop_line(self) -> None:
        if self.line is None:
            return
        line, thread = self.line, self.inspection_thread
        self.line = self.inspection_thread = None
        thread.ended.disconnect(self._on_stream_ended)  # an old line's news is stale
        self.inference.unbind()
        thread.stop()
        thread.wait(10_000)
        line.close()
        self.line_panel.show_running(False)
        self._show_state(STOPPED)

    def _change_line(self, **changes: str) -> None:
        """A new source, model or device: the line restarts with it if it was running. A model that
        will not load leaves the last one that did in charge (see ``_on_line_failed``)."""
        new = self.config.with_(**changes)
        if "source" in changes:  # the operator typed one source: the line is that one camera
            new = new.with_(cameras=())
        if new == self.config:
            return
        if "weights" in changes:
            new = new.with_(defect_classes=None)
            self._fallback = self._fallback or self.config
        self.config = new
        self.line_panel.show_config(new)
        if self.line is not None:
            self.stop_line()
            self.start_line()

    def _on_rules_changed(self, min_confidence: float, classes: tuple[str, ...] | None) -> None:
        self.config = self.config.with_(min_confidence=min_confidence, defect_classes=classes)
        if self.line is not None:
            self.line.set_rules(self.config.rules(self.line.model.names.values()))

    def _on_pause_toggled(self, paused: bool) -> None:
        if self.line is None:
            self.line_panel.show_running(False)
            return
        (self.line.paused.set if paused else self.line.paused.clear)()
        self.line_panel.pause_button.setText("Resume" if paused else "Pause")
        self._show_state(PAUSED if paused else None)

    def _on_start_toggled(self, checked: bool) -> None:
        if checked and self.line is None:
            self.start_line()
        elif not checked and self.line is not None:
            self.stop_line()

    def _on_stream_ended(self, error: str) -> None:
        if error:
            self.show_error(error)
        self.stop_line()
        self._show_state(SOURCE_LOST if error else SOURCE_ENDED)

    # Drawing ---------------------------------------------------------------------------------
    def _show_newest(self) -> None:
        if self.line is None:
            return
        for index, camera in enumerate(self.line.cameras):
            serial, result = camera.latest.get()
            if result is None or serial == self._serials[index]:
                continue
            self._serials[index] = serial
            self.cameras.show_result(index, result, camera.stats.last_part)
            if index == self._camera:
                self.view.show_result(result, camera.stats.last_part)
                self.view.repaint()
                self.gauges.shown(result)
                self.inference.show_active(result.backend)
        self._show_left_out()

    def _show_left_out(self) -> None:
        """A camera the recipe in force leaves out says so where its verdict would be (its last
        verdict is not current), and is live again with the next recipe that judges it."""
        line = self.line
        if line is None:
            return
        judged = line.config.judged_cameras
        for index, camera in enumerate(line.cameras):
            out = bool(judged) and camera.name not in judged
            views = self.cameras.views[index : index + 1] + ([self.view] if index == self._camera else [])
            for view in views:
                if out and view.state is None:
                    view.show_state(LEFT_OUT)
                elif not out and view.state == LEFT_OUT:
                    view.show_state(None)

    def _choose_camera(self, index: int) -> None:
        """The big view shows the camera the operator clicked, from its newest frame on."""
        if self.line is None or index >= len(self.line.cameras):
            return
        self._camera = index
        self.view.title = self.line.cameras[index].name
        self._serials[index] = 0  # its newest result is drawn at the next poll

    def _show_state(self, state: str | None) -> None:
        self.view.show_state(state)
        self.cameras.show_state(state)

    def choose_recipe(self, number: int) -> None:
        """The operator (or ``--recipe``) picked a recipe: new parts are judged by it from the next
        frame on."""
        try:
            self.station.choose_recipe(number)
        except InspectorError as exc:
            self.show_error(str(exc))
        self._follow_recipe()

    def _follow_recipe(self) -> None:
        """The window's settings follow the recipe chosen (here or by the PLC), so a restart keeps
        it; the panel says which one new parts are judged by."""
        chosen = self.station.recipe
        if chosen is not None and chosen != self._followed:
            self._followed = chosen
            self.config = chosen.apply(self.config)
            self.rules.show(self.config.min_confidence, self.config.defect_classes)
        self.line_panel.show_recipe(self.line.recipe if self.line is not None else None, chosen)
        self.line_panel.trigger_button.setVisible(self.line is not None and self.line.config.trigger)

    def _update_gauges(self) -> None:
        self.plant.refresh()
        self.details.setTabText(self.details.indexOf(self.plant), f"Plant links · {self.plant.summary()}")
        self._follow_recipe()
        # greyed while nothing is inspected (stopped, paused, starting, source lost): the figures
        # shown are the last ones, not the line's present
        self.gauges.setEnabled(self.line is not None and self.line.state() in (RUNNING, COMPILING))
        if self.line is None:
            return
        self.view.update()  # a verdict that grew stale while no frame came is shown as such
        self.inference.tick()
        self.gauges.refresh(self.line)
        self.counts.refresh(self.line)

    # Errors and closing ----------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self._show_banner(f"⚠ {message}", "#D62728")

    def show_notice(self, message: str) -> None:
        """Good news after an error (the log writes again): green, so nobody looks twice."""
        self._show_banner(f"✓ {message}", "#2CA02C")

    def _show_banner(self, text: str, colour: str) -> None:
        self.banner.say(text, colour)

    def _on_writer_message(self, message: str) -> None:
        if message == LOG_RECOVERED:
            self.show_notice(f"{message}: the defects kept in memory are saved")
        else:
            self.show_error(message)

    def hide_error(self) -> None:
        self.banner.hide()

    def closeEvent(self, event: QCloseEvent) -> None:
        remember(station_settings(), self.current_config(), self.saveGeometry())
        self._poll.stop()
        self._gauges.stop()
        if self._builder is not None:
            self._builder.wait()  # a line being built is let finish; its run is closed unstarted
            orphan, self._builder = self._builder.line, None
            if orphan is not None:
                orphan.close()
        self.stop_line()
        self.history.shutdown()
        self.station.close()
        self._collector.timer.stop()
        gc.enable()  # the collector's timer is gone with this window
        super().closeEvent(event)
