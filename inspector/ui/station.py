"""What the station runs: one line (source → model → rules → log) built from the operator's choices.

Kept apart from the window so the window only wires widgets to it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from inspector.capture.base import SourceError, capture_into
from inspector.capture.spec import open_source
from inspector.inference.backends import CompiledBackend
from inspector.inference.devices import DeviceError, describe_device, resolve_device
from inspector.inference.engine import Engine
from inspector.inference.model import DetectorModel, ModelLoadError, load_detector, model_input_size
from inspector.inspection.rules import InspectionRules
from inspector.pipeline import FrameSlot, Inspector
from inspector.storage.database import StorageError
from inspector.storage.writer import DefectWriter, RunInfo
from inspector.ui.workers import CaptureThread, InspectionThread, LatestResult


@dataclass(frozen=True)
class LineConfig:
    source: str = "synthetic"
    weights: str = ""
    device: str = "auto"
    imgsz: int | None = None
    min_confidence: float = 0.5
    detect_confidence: float = 0.25  # boxes under the rules' threshold are still drawn, dashed
    iou: float = 0.5
    seed: int = 0
    defect_classes: tuple[str, ...] | None = None  # None: every class the model knows

    def with_(self, **changes: object) -> LineConfig:
        return replace(self, **changes)  # type: ignore[arg-type]


class Line:
    """A line: built (model loaded, run opened) in any thread, then started in the GUI thread."""

    def __init__(
        self, config: LineConfig, writer: DefectWriter, models: dict[tuple[str, str], DetectorModel]
    ):
        self.config = config
        device = resolve_device(config.device)
        key = (config.weights, str(device))
        if key not in models:
            models[key] = load_detector(config.weights, device)
        self.model = models[key]
        self.device_name = describe_device(device)
        self.source = open_source(config.source, seed=config.seed)
        self.engine = Engine(
            self.model,
            imgsz=model_input_size(self.model.network, config.imgsz),
            conf=config.detect_confidence,
            iou=config.iou,
        )
        classes = frozenset(config.defect_classes) if config.defect_classes else None
        rules = InspectionRules(classes, config.min_confidence)
        self.run_id = writer.begin_run(
            RunInfo(
                self.source.name,
                self.model.path,
                self.model.sha256,
                "eager",
                self.device_name,
                {"imgsz": self.engine.imgsz, "conf": config.min_confidence, "iou": config.iou},
            )
        )
        self.inspector = Inspector(self.engine, rules, writer, self.run_id)
        self.slot = FrameSlot(keep_latest=self.source.live)
        self.latest = LatestResult()
        self.compiled = CompiledBackend(self.model, self.engine.imgsz)  # its worker starts on demand
        capture_into(self.source, self.compiled.frame_pool)
        self._writer = writer

    def start(self) -> None:
        """Called in the GUI thread, so the QThread objects belong to it (the rest of the line
        may have been built in a worker, off the GUI thread)."""
        self.capture = CaptureThread(self.source, self.slot)
        self.inspection = InspectionThread(self.inspector, self.slot, self.latest)
        self.inspection.start()
        self.capture.start()
        if self.compiles_ahead:
            self.compiled.start()

    @property
    def compiles_ahead(self) -> bool:
        """On a GPU the compile worker starts with the line, and a compile its cache already holds
        is done as soon as frames arrive, so the switch is live at the next frame. On a CPU the
        worker would take cores from the line: there everything waits for the switch."""
        return self.model.device.type == "cuda"

    def set_rules(self, min_confidence: float, defect_classes: tuple[str, ...] | None) -> None:
        """Takes effect on the next frame: the rules object is swapped whole, never edited."""
        classes = frozenset(defect_classes) if defect_classes else None
        self.inspector.rules = InspectionRules(classes, min_confidence, self.inspector.rules.roi)

    def stop(self, timeout_ms: int = 10_000) -> None:
        self.capture.stop()
        self.inspection.stop()
        self.capture.wait(timeout_ms)
        self.inspection.wait(timeout_ms)
        self.compiled.close()
        self._writer.end_run(self.run_id, self.inspector.frames)

    @property
    def weights_name(self) -> str:
        return Path(self.model.path).name


class LineBuilder(QThread):
    """Loads the model and opens the run off the GUI thread, so the window never freezes on it."""

    built = Signal(object)  # Line
    failed = Signal(str)

    def __init__(
        self, config: LineConfig, writer: DefectWriter, models: dict[tuple[str, str], DetectorModel]
    ):
        super().__init__()
        self.setObjectName("line-builder")
        self.args = (config, writer, models)

    def run(self) -> None:
        try:
            self.line = Line(*self.args)
        except (SourceError, ModelLoadError, DeviceError, StorageError, ValueError) as exc:
            self.failed.emit(str(exc))
            return
        self.built.emit(self.line)
