"""One start-to-stop of the line, and its one per-frame loop.

Capture runs in its own thread into the newest-frame slot; ``Line.run`` takes frames from the slot
in the calling thread (the headless run's main thread, or the window's inspection QThread), lets
the backend switch act on the frame boundary, inspects and logs the frame, and publishes the result.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from inspector.capture.base import Frame, FrameSource
from inspector.inference.backends import CompiledBackend
from inspector.inference.frame_pipeline import PIPELINE_MODES, mode_on
from inspector.inference.model import DetectorModel
from inspector.inspection.parts import PartVerdict
from inspector.inspection.rules import InspectionRules
from inspector.line.config import LineConfig
from inspector.line.recipes import Recipe
from inspector.line.stats import LatestResult, LineStats
from inspector.line.switch import FELL_BACK, SWAPPED, BackendSwitch, SwitchEvent
from inspector.outputs.hub import Outputs
from inspector.outputs.messages import COMPILING, PAUSED, RUNNING, SOURCE_LOST, STARTING, STOPPED
from inspector.pipeline import FrameSlot, InspectionResult, Inspector, capture_loop
from inspector.storage.writer import DefectWriter, RunEventRecord, utc_at, utc_now

log = logging.getLogger(__name__)

ResultCallback = Callable[[InspectionResult], None]


class Line:
    """A built line: its source (opened by the capture thread), model, rules, run and backends.

    Built by ``Station.build_line``; ``run`` it in one thread, ``stop`` it from any, then ``close``.
    """

    def __init__(
        self,
        config: LineConfig,
        source: FrameSource,
        model: DetectorModel,
        device_name: str,
        inspector: Inspector,
        compiled: CompiledBackend,
        writer: DefectWriter,
        run_id: int,
        outputs: Outputs,
        latency_samples: int = 10_000,
    ) -> None:
        self.config = config
        self.source = source
        self.model = model
        self.device_name = device_name
        self.inspector = inspector
        self.engine = inspector.engine
        self.run_id = run_id
        self.slot = FrameSlot(keep_latest=source.live)
        self.latest = LatestResult()
        self.stats = LineStats(latency_samples)
        self.paused = threading.Event()  # while set, frames are taken and let go uninspected
        mode = mode_on(model.device.type, config.mode)
        ahead = config.compile_ahead
        if ahead is None:  # where a compile the cache holds is cheap; Inductor on a CPU is not
            ahead = model.device.type == "cuda" or PIPELINE_MODES[mode].openvino
        self.switch = BackendSwitch(self.engine, compiled, mode, ahead)
        self.switch.subscribe(self._record_swap)
        self.switch.subscribe(lambda _event: self._report_state())  # a compile the run waits for
        self.outputs = outputs
        self._ended: str | None = None  # the state once the loop has ended
        self._triggers: deque[float] = deque()  # when each trigger not yet served came
        self.recipe: Recipe | None = None  # the recipe new parts are judged by
        self._next_recipe: Recipe | None = None  # chosen; in force from the next frame
        self.compile_s = 0.0  # time the run waited for a compile before its first frame
        self._writer = writer
        self._stop = threading.Event()
        self._stop_asked = False
        self._closed = False
        self.capture: threading.Thread | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stopped(self) -> bool:
        """Whether ``stop`` was called (the loop did not end on its own)."""
        return self._stop_asked

    def gpu_memory_mib(self) -> float | None:
        """Memory torch holds on the line's GPU, or ``None`` on the CPU."""
        device = self.model.device
        if device.type != "cuda":
            return None
        import torch

        return torch.cuda.memory_allocated(device) / 2**20

    @property
    def part_classes(self) -> frozenset[str]:
        return self.inspector.parts.config.part_classes if self.inspector.parts else frozenset()

    def state(self) -> str:
        """The line's state as the plant sees it (the PLC's state register, MQTT's state topic)."""
        if self._ended is not None:
            return self._ended
        if self.paused.is_set():
            return PAUSED
        if getattr(self.source, "reconnecting", False):
            return SOURCE_LOST
        if self.switch.compiling and not self.switch.compiling_ahead:
            return COMPILING
        return RUNNING if self.inspector.frames else STARTING

    def _report_state(self) -> None:
        self.outputs.set_state(self.state())

    def trigger(self) -> None:
        """In triggered mode: judge the next frame captured from now on as one part (the PLC's
        trigger, or the operator's). Safe from any thread."""
        self._triggers.append(time.perf_counter())

    def _triggered(self, frame: Frame) -> bool | None:
        """Whether to inspect ``frame``: always when free-running (``None``); in triggered mode
        only the first frame captured after a trigger (``True``), the rest are let go."""
        if not self.config.trigger:
            return None
        if not self._triggers or frame.captured_at < self._triggers[0]:
            return False
        self._triggers.popleft()
        return True

    def choose_recipe(self, recipe: Recipe) -> None:
        """From the next frame on, new parts are judged by ``recipe``; parts already in view keep
        theirs. Safe from any thread; a recipe naming a class the model lacks is a ``ConfigError``."""
        recipe.check(self.model.names.values())
        recipe.apply(self.config)
        self._next_recipe = recipe

    def _change_recipe(self, frame_index: int) -> None:
        recipe, self._next_recipe = self._next_recipe, None
        if recipe is None:
            return
        names = list(self.model.names.values())
        self.config = config = recipe.apply(self.config)
        self.inspector.rules = config.rules(names)
        book = self.inspector.parts
        if book is not None:
            classes = frozenset(config.parts_of(names))
            book.config = replace(
                book.config,
                part_classes=classes,
                min_frames=config.min_frames,
                exit_line=config.exit_line,
                recipe=recipe.name,
            )
        self.recipe = recipe
        self.outputs.watch_trigger(config.trigger)
        self._writer.log_event(RunEventRecord(self.run_id, utc_now(), frame_index, "recipe", recipe.label))
        self.outputs.set_recipe(recipe.number)

    def set_rules(self, rules: InspectionRules) -> None:
        """Takes effect on the next frame: the rules object is swapped whole, never edited."""
        self.inspector.rules = rules

    def run(self, frames: int | None = None, on_result: ResultCallback | None = None) -> str | None:
        """Inspect frames until the source ends, ``frames`` were inspected, or ``stop``; returns why
        the source failed, or ``None``. Capture starts and ends with this call."""
        if self.switch.compiles_ahead or self.switch.wanted == "compiled":
            self.switch.compiled.start()  # the worker imports torch and loads the model meanwhile
        self.capture = capture = threading.Thread(
            target=capture_loop,
            args=(self.source, self.slot, self._stop),
            kwargs={"on_frame": lambda _f: self.stats.captured.tick()},
            name="capture",
            daemon=True,
        )
        self.stats.restart()
        self.outputs.watch_trigger(self.config.trigger)
        capture.start()
        try:
            while not self._stop.is_set() and (frames is None or self.inspector.frames < frames):
                self._report_state()
                frame = self.slot.take(timeout=0.1)
                if frame is None:
                    if self.slot.closed:
                        break
                    continue
                if self.paused.is_set():
                    continue
                if self._next_recipe is not None:
                    self._change_recipe(frame.index)
                once = self._triggered(frame)
                if once is False:
                    continue
                waited = time.perf_counter()
                if self.switch.at_frame_boundary(frame):  # the run waited for a compile
                    self.compile_s = time.perf_counter() - waited
                    self.stats.restart()  # rates and latencies describe the line, not the compile
                result = self.inspector.process(frame, once=bool(once))
                self.switch.after_frame(frame)
                self.stats.add(result)
                if result.decided:
                    self.outputs.decided(result.decided, result.backend)
                self.latest.put(result)
                if on_result is not None:
                    on_result(result)
        finally:
            self.stats.ended = time.perf_counter()
            self._stop.set()
            self.source.cancel()
            capture.join(timeout=10)
            if capture.is_alive():
                log.warning("the capture thread of %s did not end within 10 s", self.source.name)
            self._ended = SOURCE_LOST if self.slot.error else STOPPED
            self._report_state()
        return self.slot.error

    def stop(self) -> None:
        """End ``run`` after the frame in hand; safe from any thread."""
        self._stop_asked = True
        self._stop.set()
        self.source.cancel()

    def close(self) -> tuple[PartVerdict, ...]:
        """After ``run`` returned (or if it never ran): end the compile worker, decide the parts
        still in view (returned, and counted in ``stats``), close the run."""
        if self._closed:
            return ()
        self._closed = True
        self.switch.close()
        done = self.inspector.finish()
        now = time.perf_counter()
        for part in done:
            self.stats.add_part(part, now)
        self.outputs.decided(done, self.engine.backend.label)
        self._ended = self._ended or STOPPED
        self._report_state()
        self._writer.end_run(self.run_id, self.inspector.frames)
        return done

    def _record_swap(self, event: SwitchEvent) -> None:
        """Which backend inspected which stretch of frames goes into the run's record."""
        if event.kind in (SWAPPED, FELL_BACK):
            backend = event.detail if event.kind == SWAPPED else self.engine.eager.label
            self._writer.log_event(
                RunEventRecord(self.run_id, utc_at(event.at), event.frame or 0, "backend", backend)
            )
