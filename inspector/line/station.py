"""The composition root: the one place a line is assembled, for every front end."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from inspector.capture.base import FrameSource, StatusCallback, capture_into
from inspector.capture.spec import open_source
from inspector.errors import ConfigError
from inspector.inference.backends import CompiledBackend
from inspector.inference.devices import describe_device, resolve_device
from inspector.inference.engine import Engine
from inspector.inference.frame_pipeline import mode_on
from inspector.inference.model import DetectorModel, file_sha256, load_detector, model_input_size
from inspector.inference.threads import limit_cpu_threads
from inspector.inspection.book_process import BookProcess, RemoteBook, book_processes_for
from inspector.inspection.parts import PartBook, PartsConfig
from inspector.line.config import LineConfig
from inspector.line.line import Line, sources_name
from inspector.line.recipes import Recipe
from inspector.outputs.config import OutputsConfig
from inspector.outputs.hub import Outputs, build_outputs
from inspector.pipeline import Inspector
from inspector.storage.database import open_database
from inspector.storage.retention import DiskBudget
from inspector.storage.writer import LOG_RECOVERED, DefectWriter, ErrorCallback, RunInfo

__all__ = ["LOG_RECOVERED", "Station", "available_devices"]

log = logging.getLogger(__name__)


def _naming(camera: str, on_status: StatusCallback) -> StatusCallback:
    return lambda message: on_status(f"{camera}: {message}")


def _part_books(
    configs: list[PartsConfig], keep_images: bool, asked: int | None
) -> tuple[list[BookProcess], list[PartBook | RemoteBook]]:
    """Each camera's part book: here, or in one of the processes a line of many cameras follows
    its parts in (the cameras dealt out in turn, so each process gets its share of every batch)."""
    count = book_processes_for(len(configs), asked, os.cpu_count() or 1)
    if not count:
        return [], [PartBook(c, keep_images) for c in configs]
    processes = [BookProcess(configs[i::count], keep_images) for i in range(count)]
    return processes, [processes[i % count].books[i // count] for i in range(len(configs))]


def available_devices() -> list[str]:
    """What the device menu offers: auto, the CPU and each CUDA GPU."""
    return ["auto", "cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]


class Station:
    """What outlives one line: the defect log (its database and its one writer), the links to the
    plant and the models loaded so far. Lines come and go (a new source or model restarts the
    line); the station, and its connections, stay.
    """

    def __init__(
        self,
        db_path: Path,
        on_message: ErrorCallback | None = None,
        outputs: OutputsConfig | None = None,
        recipes: Mapping[int, Recipe] | None = None,
        budget: DiskBudget | None = None,
    ) -> None:
        self.db_path = Path(db_path).expanduser()
        self.recipes: dict[int, Recipe] = dict(recipes or {})
        self.recipe: Recipe | None = None  # the one chosen last: every line built takes it
        self.line: Line | None = None  # the newest line built
        self._on_message = on_message or (lambda message: None)
        self.db = open_database(self.db_path)
        self.writer = DefectWriter(
            self.db, self.db_path, on_error=on_message, budget=budget or DiskBudget()
        ).start()
        self.outputs: Outputs = build_outputs(
            outputs or OutputsConfig(), self.db, self._plc_wants, self._plc_triggers
        )
        self._models: dict[tuple[str, str], DetectorModel] = {}
        self._models_lock = threading.Lock()

    def build_line(
        self,
        config: LineConfig,
        on_status: StatusCallback | None = None,
        wait_for_compile: bool = False,
        latency_samples: int = 10_000,
        check_source: bool = False,
        sources: Sequence[tuple[str, FrameSource]] | None = None,
    ) -> Line:
        """Resolve the device, build the source (it opens in its capture thread), load the model and
        open the run; safe off the GUI thread. ``wait_for_compile``: a compiled backend asked for in
        ``config`` is compiled before the first frame is inspected (a headless run), instead of while
        eager serves (the window). ``check_source``: open each source once first, so one that cannot
        be opened is a ``SourceError`` and no run (the window instead shows it lost, and retries).
        ``sources``: (name, source) of each camera, built already, instead of ``config``'s."""
        device = resolve_device(config.device)
        mode = mode_on(device.type, config.mode)
        if config.mode and mode != config.mode:
            log.info("the %s mode does not run on %s: %s instead", config.mode, device, mode)
        config = config.with_(mode=mode)
        if device.type == "cpu":
            limit_cpu_threads()
        cameras = sources if sources is not None else self._sources(config, on_status)
        if check_source:
            for _, source in cameras:
                source.open()
                source.close()
        model = self._model(config.weights, device, config.trust_model)
        imgsz = model_input_size(model.network, config.imgsz)
        engine = Engine(model, imgsz=imgsz, conf=config.detect_confidence, iou=config.iou)
        names = list(model.names.values())
        if self.recipe is not None:  # a recipe that does not fit the model is refused before the run
            self.recipe.check(names, [name for name, _ in cameras])
            config = self.recipe.apply(config)
        rules = config.rules(names)
        part_classes = config.parts_of(names)
        # frames of every camera wait in the pool: the one in its slot, the one inspected, the one shown
        compiled = CompiledBackend(model, imgsz, config.mode, pool_slots=max(6, 4 * len(cameras)))
        for _, source in cameras:
            capture_into(source, compiled.frame_pool)
        settings = {
            "imgsz": imgsz,
            "conf": config.min_confidence,
            "detect_conf": config.detect_confidence,
            "iou": config.iou,
            "mode": config.mode,
            "classes": sorted(rules.defect_classes or ()),
            "part_classes": list(part_classes),
            "min_frames": config.min_frames,
            "exit_line": config.exit_line,
            "log_frames": config.log_frames,
            "roi": config.roi,
            "cameras": {name: source.name for name, source in cameras},
        }
        backend = "eager" if config.backend == "eager" else compiled.label
        device_name = describe_device(device)
        run_id = self.writer.begin_run(
            RunInfo(sources_name(cameras), model.path, model.sha256, backend, device_name, settings)
        )
        self.outputs.begin_run(run_id, model.sha256, {name: i for i, name in model.names.items()})
        parts = [
            PartsConfig(frozenset(part_classes), config.min_frames, exit_line=config.exit_line, camera=name)
            for name, _ in cameras
        ]
        # no crops copied for a run that keeps none
        processes, books = _part_books(parts, config.save_images, config.tracking_processes)
        inspectors = []
        for (name, source), book in zip(cameras, books, strict=True):
            inspector = Inspector(
                engine, rules, self.writer, run_id, config.save_images, book, config.log_frames, name
            )
            inspectors.append((name, source, inspector))
        line = Line(
            config,
            inspectors,
            model,
            device_name,
            engine,
            compiled,
            self.writer,
            run_id,
            self.outputs,
            latency_samples,
            processes,
        )
        if config.backend == "compiled":
            line.switch.want_compiled(config.mode, wait=wait_for_compile)
        if self.recipe is not None:
            line.choose_recipe(self.recipe)  # recorded, and told to the plant, at the first frame
        self.line = line
        return line

    @staticmethod
    def _sources(config: LineConfig, on_status: StatusCallback | None) -> list[tuple[str, FrameSource]]:
        """Each camera's source, built (not opened); synthetic cameras each get a line of their own."""
        cameras = config.camera_sources()
        several = len(cameras) > 1
        built = []
        for place, (name, spec) in enumerate(cameras):
            said = _naming(name, on_status) if several and on_status is not None else on_status
            seed = config.seed + place
            built.append((name, open_source(spec, seed=seed, loop=config.loop, on_status=said)))
        return built

    def choose_recipe(self, number: int) -> Recipe:
        """The recipe lines judge new parts by, from the next frame of the running line on."""
        recipe = self.recipes.get(number)
        if recipe is None:
            known = ", ".join(str(n) for n in sorted(self.recipes)) or "none"
            raise ConfigError(f"no recipe {number} (recipes: {known})")
        if self.line is not None and not self.line.closed:
            self.line.choose_recipe(recipe)
        self.recipe = recipe
        return recipe

    def _plc_triggers(self) -> None:
        """The PLC raised its trigger (from its link's thread): the running line judges a part."""
        line = self.line
        if line is not None and not line.closed and line.config.trigger:
            line.trigger()

    def _plc_wants(self, number: int) -> None:
        """The PLC asked for a recipe (from its link's thread): chosen, or said why not."""
        try:
            recipe = self.choose_recipe(number)
        except ConfigError as exc:
            log.warning("the PLC asked for a recipe: %s", exc)
            self._on_message(f"the PLC asked for a recipe: {exc}")
            return
        log.info("the PLC chose recipe %s", recipe.label)

    def _model(self, weights: str, device: torch.device, trust: bool) -> DetectorModel:
        key = (weights, str(device), trust)
        with self._models_lock:
            model = self._models.get(key)
            if model is None or (Path(weights).is_file() and model.sha256 != file_sha256(Path(weights))):
                model = self._models[key] = load_detector(weights, device, trust=trust)  # new, or changed
            return model

    def close(self) -> None:
        """Tell the plant the station stopped, commit what is queued, and let the database go."""
        self.outputs.close()
        self.writer.stop()
        self.db.dispose()
