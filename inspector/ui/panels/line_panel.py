"""The line's source, model and device, and Start / Pause."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QToolButton,
)

from inspector.line.config import LineConfig
from inspector.line.recipes import Recipe
from inspector.line.station import available_devices


class LinePanel(QGroupBox):
    """Asks for changes (``change_requested``) and start/stop/pause; the window decides."""

    change_requested = Signal(dict)  # LineConfig fields to change
    start_toggled = Signal(bool)
    pause_toggled = Signal(bool)
    recipe_chosen = Signal(int)  # a recipe's number
    trigger_clicked = Signal()  # judge the next frame as a part (triggered mode)

    def __init__(self, config: LineConfig, recipes: Sequence[Recipe] = ()) -> None:
        super().__init__("Line")
        form = QFormLayout(self)
        self.recipe_combo = QComboBox()
        self.recipe_combo.addItem("— none —", 0)
        for recipe in recipes:
            self.recipe_combo.addItem(recipe.label, recipe.number)
        self.recipe_combo.activated.connect(self._on_recipe)
        self.recipe_note = QLabel()
        self.recipe_note.setStyleSheet("color:#666")
        self.source_edit = QLineEdit(config.source)
        self._cameras_text = ""  # what the field says for a line of several cameras: not a source
        self.source_edit.editingFinished.connect(self._on_source_edited)
        menu = QMenu(self)
        menu.addAction("Synthetic line", lambda: self._change(source="synthetic"))
        menu.addAction("Camera 0", lambda: self._change(source="0"))
        menu.addAction("Video file…", self._pick_video)
        menu.addAction("Image folder…", self._pick_folder)
        menu.addAction("Stream URL…", self._pick_url)
        source_button = QToolButton(text="▾", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup)
        source_button.setMenu(menu)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source_edit)
        source_row.addWidget(source_button)
        self.model_label = QLabel(Path(config.weights).name)
        self.model_label.setTextFormat(Qt.TextFormat.RichText)
        model_button = QPushButton("Open…")
        model_button.clicked.connect(self._pick_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_label, stretch=1)
        model_row.addWidget(model_button)
        self.device_combo = QComboBox()
        devices = available_devices()
        self.device_combo.addItems(devices if config.device in devices else [*devices, config.device])
        self.device_combo.setCurrentText(config.device)
        self.device_combo.currentTextChanged.connect(lambda d: self._change(device=d))
        self.start_button = QPushButton("Start")
        self.start_button.setCheckable(True)
        self.start_button.setMinimumHeight(36)
        self.start_button.toggled.connect(self.start_toggled)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause or resume the inspection (Space)")
        self.start_button.setToolTip("Start or stop the line (Ctrl+Enter)")
        self.pause_button.setCheckable(True)
        self.pause_button.setMinimumHeight(36)
        self.pause_button.toggled.connect(self.pause_toggled)
        self.trigger_button = QPushButton("Inspect now")
        self.trigger_button.setToolTip(
            "triggered mode: judge the next frame as one part, as a PLC trigger does"
        )
        self.trigger_button.setMinimumHeight(36)
        self.trigger_button.clicked.connect(self.trigger_clicked)
        self.trigger_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, stretch=2)
        buttons.addWidget(self.pause_button, stretch=1)
        buttons.addWidget(self.trigger_button, stretch=1)
        form.addRow("Source", source_row)
        form.addRow("Model", model_row)
        form.addRow("Device", self.device_combo)
        if recipes:  # a station without a recipes file has nothing to choose
            form.addRow("Recipe", self.recipe_combo)
            form.addRow("", self.recipe_note)
        form.addRow(buttons)

    def show_config(self, config: LineConfig, sha256: str | None = None) -> None:
        """The line's settings; ``sha256``: the loaded model file's, so the operator can tell
        which file runs (its first 12 hex digits shown, all of it on hover)."""
        cameras = config.camera_sources()
        self._cameras_text = ""
        if len(cameras) > 1:  # typing one source over it makes the line that one camera
            self._cameras_text = f"{len(cameras)} cameras: " + ", ".join(name for name, _ in cameras)
        self.source_edit.setText(self._cameras_text or config.source)
        self.source_edit.setCursorPosition(0)  # a long list of cameras shows its start: how many
        self.source_edit.setToolTip("\n".join(f"{name} = {spec}" for name, spec in cameras))
        name = Path(config.weights).name
        trusted = " · <b>trusted, not safe-loaded</b>" if config.trust_model else ""
        digest = f"<br><span style='color:#666'>sha256 {sha256[:12]}</span>{trusted}" if sha256 else ""
        self.model_label.setText(f"{html.escape(name)}{digest}")
        self.model_label.setToolTip(f"{config.weights}\nsha256 {sha256}" if sha256 else config.weights)

    def show_recipe(self, active: Recipe | None, chosen: Recipe | None) -> None:
        """The recipe new parts are judged by, and one chosen that takes over at the next frame."""
        shown = chosen or active
        self.recipe_combo.setCurrentIndex(max(0, self.recipe_combo.findData(shown.number if shown else 0)))
        pending = chosen is not None and chosen != active
        self.recipe_note.setText("in force from the next part on" if pending else "")

    def _on_recipe(self, index: int) -> None:
        number = self.recipe_combo.itemData(index)
        if number:
            self.recipe_chosen.emit(number)

    def show_running(self, running: bool) -> None:
        """The buttons as the line is, without asking for anything."""
        for button, checked in ((self.start_button, running), (self.pause_button, False)):
            button.blockSignals(True)
            button.setChecked(checked)
            button.blockSignals(False)
        self.start_button.setText("Stop" if running else "Start")
        self.pause_button.setText("Pause")

    def _change(self, **changes: str) -> None:
        self.change_requested.emit(changes)

    def _on_source_edited(self) -> None:
        text = self.source_edit.text()
        if text != self._cameras_text:
            self._change(source=text)

    def _pick_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Video file", "", "Videos (*.mp4 *.avi *.mkv *.mov *.m4v *.webm)"
        )
        if path:
            self._change(source=path)

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of images")
        if path:
            self._change(source=path)

    def _pick_url(self) -> None:
        url, ok = QInputDialog.getText(self, "Stream", "RTSP or HTTP URL:", text="rtsp://")
        if ok and url.strip():
            self._change(source=url.strip())

    def _pick_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Detect model", "", "ultralytics models (*.pt *.yaml)")
        if path:
            self._change(weights=path)
