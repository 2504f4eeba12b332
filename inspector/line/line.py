"""One start-to-stop of the line, and its one per-frame loop.

Each camera's capture runs in its own thread into its newest-frame slot; ``Line.run`` takes the
frames that are there from every slot in the calling thread (the headless run's main thread, or the
window's inspection QThread), lets the backend switch act on the boundary, runs them through the
engine as one batch, and each camera inspects and logs its frame and publishes the result. With
several cameras that last step runs in a judging thread, one batch behind: while it judges a batch
the next one is on the GPU (at 64 cameras each step takes about as long as the other). A line of
many cameras follows its parts in processes of its own (``book_process``), beside the lock of the
interpreter its capture, loop and judging threads share.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from inspector.capture.base import Frame, FrameSource
from inspector.inference.backends import CompiledBackend
from inspector.inference.engine import Engine, EngineOutput
from inspector.inference.frame_pipeline import PIPELINE_MODES, mode_on
from inspector.inference.model import DetectorModel
from inspector.inspection.book_process import BookProcess, BookProcessError
from inspector.inspection.parts import PartVerdict
from inspector.inspection.rules import InspectionRules
from inspector.line.config import LineConfig
from inspector.line.recipes import Recipe
from inspector.line.stats import LatestResult, LineStats
from inspector.line.switch import FELL_BACK, SWAPPED, BackendSwitch, SwitchEvent
from inspector.outputs.hub import Outputs
from inspector.outputs.messages import COMPILING, PAUSED, RUNNING, SOURCE_LOST, STARTING, STOPPED
from inspector.pipeline import FrameSlot, InspectionResult, Inspector, capture_loop, take_newest
from inspector.storage.writer import DefectWriter, RunEventRecord, utc_at, utc_now

log = logging.getLogger(__name__)

ResultCallback = Callable[[InspectionResult], None]


def sources_name(cameras: Sequence[tuple[str, FrameSource]]) -> str:
    """What a line inspects, in words: its source, or each camera's."""
    if len(cameras) == 1:
        return cameras[0][1].name
    return f"{len(cameras)} cameras: " + ", ".join(f"{name} {source.name}" for name, source in cameras)


@dataclass(eq=False)
class Camera:
    """One camera of a line: its source, newest-frame slot, inspector (its own tracker and parts),
    counters and latest result. The engine, writer, run and backend switch are the line's."""

    name: str
    source: FrameSource
    slot: FrameSlot
    inspector: Inspector
    stats: LineStats
    latest: LatestResult = field(default_factory=LatestResult)
    triggers: deque[float] = field(default_factory=deque)  # when each trigger not yet served came
    capture: threading.Thread | None = None
    taken: int = 0  # frames taken for inspection this run (judged, or on their way to it)

    def triggered(self, frame: Frame, trigger_mode: bool) -> bool | None:
        """Whether to inspect ``frame``: always when free-running (``None``); in triggered mode
        only the first frame captured after a trigger (``True``), the rest are let go."""
        if not trigger_mode:
            return None
        if not self.triggers or frame.captured_at < self.triggers[0]:
            return False
        self.triggers.popleft()
        return True


Inspected = tuple[Camera, Frame, bool, EngineOutput]  # a frame the engine ran; bool: a triggered one


class _JudgingThread:
    """Judges a line's batches in order, one batch behind the loop that runs them through the
    engine. The loop hands a batch over once the one before it is judged, so a camera's frames in
    flight are the one judged, the one on the GPU, the newest and the one being captured."""

    def __init__(
        self,
        judge: Callable[[list[Inspected], float, int, ResultCallback | None], None],
        on_result: ResultCallback | None,
    ) -> None:
        self._judge, self._on_result = judge, on_result
        self._queue: queue.Queue[tuple[list[Inspected], float, int] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="judging", daemon=True)
        self._thread.start()

    def put(self, inspected: list[Inspected], started: float, frame_index: int) -> None:
        """Hand over a batch once the one before is judged; raises what judging that one raised."""
        self._queue.join()
        if self._error is not None:
            raise self._error
        self._queue.put((inspected, started, frame_index))

    def finish(self) -> BaseException | None:
        """Judge what was handed over, end the thread; returns what judging raised, if it did."""
        self._queue.put(None)
        self._thread.join()
        return self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                if self._error is None:  # after a failure batches are let go: the loop stops at the next
                    self._judge(*item, self._on_result)
            except BaseException as exc:
                self._error = exc
            finally:
                self._queue.task_done()


class Line:
    """A built line: its cameras (each source opened by its capture thread), model, rules, run and
    backends. The frames of all cameras that arrived together run through the engine as one batch.

    Built by ``Station.build_line``; ``run`` it in one thread, ``stop`` it from any, then ``close``.
    """

    def __init__(
        self,
        config: LineConfig,
        cameras: Sequence[tuple[str, FrameSource, Inspector]],
        model: DetectorModel,
        device_name: str,
        engine: Engine,
        compiled: CompiledBackend,
        writer: DefectWriter,
        run_id: int,
        outputs: Outputs,
        latency_samples: int = 10_000,
        book_processes: Sequence[BookProcess] = (),
    ) -> None:
        self.config = config
        self.book_processes = tuple(book_processes)  # where the cameras' part books are, if not here
        self.model = model
        self.device_name = device_name
        self.engine = engine
        self.run_id = run_id
        handover = threading.Condition()  # one for every slot: the loop waits on all cameras at once
        self.cameras = [
            Camera(name, source, FrameSlot(source.live, handover), inspector, LineStats(latency_samples))
            for name, source, inspector in cameras
        ]
        self.stats = LineStats(latency_samples)  # the whole line's: every camera's frames and parts
        self.paused = threading.Event()  # while set, frames are taken and let go uninspected
        mode = mode_on(model.device.type, config.mode)
        ahead = config.compile_ahead
        if ahead is None:  # where a compile the cache holds is cheap; Inductor on a CPU is not
            ahead = model.device.type == "cuda" or PIPELINE_MODES[mode].openvino
        self.switch = BackendSwitch(self.engine, compiled, mode, ahead, batch=len(self.cameras))
        self.switch.subscribe(self._record_swap)
        self.switch.subscribe(lambda _event: self._report_state())  # a compile the run waits for
        self.outputs = outputs
        self._ended: str | None = None  # the state once the loop has ended
        self.recipe: Recipe | None = None  # the recipe new parts are judged by
        self._next_recipe: Recipe | None = None  # chosen; in force from the next frame
        self.compile_s = 0.0  # time the run waited for a compile before its first frame
        self._writer = writer
        self._stop = threading.Event()
        self._stop_asked = False
        self._closed = False
        self._off_size: set[tuple[int, int]] = set()  # frame sizes said to run on eager
        self._failure: str | None = None  # why the run ended early, other than a camera's source

    @property
    def frames(self) -> int:
        """Frames inspected so far, every camera's."""
        return sum(c.inspector.frames for c in self.cameras)

    @property
    def dropped(self) -> int:
        """Frames of live cameras replaced unseen by newer ones."""
        return sum(c.slot.dropped for c in self.cameras)

    @property
    def error(self) -> str | None:
        """Why the run ended before its time: a process that followed parts ended, or a camera's
        source failed (the first one's); else ``None``."""
        return self._failure or self._source_error()

    def _source_error(self) -> str | None:
        return next(
            (
                f"{c.name}: {c.slot.error}" if len(self.cameras) > 1 else c.slot.error
                for c in self.cameras
                if c.slot.error
            ),
            None,
        )

    @property
    def source_name(self) -> str:
        return sources_name([(c.name, c.source) for c in self.cameras])

    @property
    def defects_logged(self) -> int:
        return sum(c.inspector.defects_logged for c in self.cameras)

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
        parts = self.cameras[0].inspector.parts
        return parts.config.part_classes if parts else frozenset()

    def state(self) -> str:
        """The line's state as the plant sees it (the PLC's state register, MQTT's state topic)."""
        if self._ended is not None:
            return self._ended
        if self.paused.is_set():
            return PAUSED
        if any(getattr(c.source, "reconnecting", False) for c in self.cameras):
            return SOURCE_LOST
        if self.switch.compiling and not self.switch.compiling_ahead:
            return COMPILING
        return RUNNING if self.frames else STARTING

    def _report_state(self) -> None:
        self.outputs.set_state(self.state())

    def trigger(self) -> None:
        """In triggered mode: judge the next frame each camera captures from now on as one part (the
        PLC's trigger, or the operator's). Safe from any thread."""
        now = time.perf_counter()
        for camera in self.cameras:
            camera.triggers.append(now)

    def choose_recipe(self, recipe: Recipe) -> None:
        """From the next frame on, new parts are judged by ``recipe``; parts already in view keep
        theirs. Safe from any thread; a recipe naming a class the model lacks, or a camera the line
        lacks, is a ``ConfigError``."""
        recipe.check(self.model.names.values(), [c.name for c in self.cameras])
        recipe.apply(self.config)
        self._next_recipe = recipe

    def _change_recipe(self, frame_index: int) -> None:
        recipe, self._next_recipe = self._next_recipe, None
        if recipe is None:
            return
        names = list(self.model.names.values())
        self.config = config = recipe.apply(self.config)
        classes, rules = frozenset(config.parts_of(names)), config.rules(names)
        for camera in self.cameras:
            camera.inspector.rules = rules
            book = camera.inspector.parts
            if book is not None:
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
        for camera in self.cameras:
            camera.inspector.rules = rules

    def run(self, frames: int | None = None, on_result: ResultCallback | None = None) -> str | None:
        """Inspect frames until every source ended, each camera inspected ``frames``, or ``stop``;
        returns why a source failed, or ``None``. Capture starts and ends with this call."""
        if self.switch.compiles_ahead or self.switch.wanted == "compiled":
            self.switch.compiled.start()  # the worker imports torch and loads the model meanwhile
        for camera in self.cameras:
            camera.capture = threading.Thread(
                target=capture_loop,
                args=(camera.source, camera.slot, self._stop),
                kwargs={"on_frame": self._counter(camera)},
                name=f"capture {camera.name}",
                daemon=True,
            )
        try:
            for process in self.book_processes:
                process.wait_ready()
        except BookProcessError as exc:  # one did not start: no camera is opened
            self._failure, self._ended = str(exc), STOPPED
            self._report_state()
            return self.error
        self._restart_stats()
        self.outputs.watch_trigger(self.config.trigger)
        for camera in self.cameras:
            camera.taken = 0
            camera.capture.start()
        slots = [c.slot for c in self.cameras]
        judging = _JudgingThread(self._judge, on_result) if len(slots) > 1 else None
        failure: BaseException | None = None
        # the objects alive now (torch and the model: millions) are left out of the garbage
        # collector's full passes while the line runs: each pass walked them all, a stall of 80-215 ms
        # that dropped frames; they rejoin at the end, so a cycle among them that died is still freed
        gc.freeze()
        try:
            while not self._stop.is_set() and not self._enough(frames):
                self._report_state()
                taken = take_newest(slots, 0.1)
                if not taken:
                    if all(slot.closed for slot in slots):
                        break
                    continue
                if self.paused.is_set():
                    continue
                batch = []
                judged = self._judged_cameras()
                for i, frame in taken:
                    camera = self.cameras[i]
                    if judged and camera.name not in judged:
                        continue  # the recipe in force leaves this camera out: its frame is let go
                    if frames is not None and camera.taken >= frames:
                        continue  # this camera has done its share; the others go on
                    once = camera.triggered(frame, self.config.trigger)
                    if once is not False:
                        camera.taken += 1
                        batch.append((camera, frame, bool(once)))
                if batch:
                    started, inspected = self._detect(batch)
                elif self._next_recipe is not None:  # a triggered line between triggers changes too
                    started, inspected = time.perf_counter(), []
                else:
                    continue
                if judging is None:
                    self._judge(inspected, started, taken[0][1].index, on_result)
                else:
                    judging.put(inspected, started, taken[0][1].index)
        except BookProcessError as exc:  # not a bug: a process the system ended (out of memory, say)
            self._failure = str(exc)
        finally:
            gc.unfreeze()
            if judging is not None:
                failure = judging.finish()  # the batch in hand is judged and logged, not lost
                if isinstance(failure, BookProcessError):
                    self._failure, failure = self._failure or str(failure), None
            self.stats.ended = time.perf_counter()
            self._stop.set()
            for camera in self.cameras:
                camera.stats.ended = self.stats.ended
                camera.source.cancel()
            for camera in self.cameras:
                camera.capture.join(timeout=10)
                if camera.capture.is_alive():
                    log.warning("the capture thread of %s did not end within 10 s", camera.source.name)
            self._ended = SOURCE_LOST if self._source_error() else STOPPED
            self._report_state()
        if failure is not None:
            raise failure
        return self.error

    def _counter(self, camera: Camera) -> Callable[[Frame], None]:
        def captured(_frame: Frame) -> None:
            camera.stats.captured.tick()
            self.stats.captured.tick()

        return captured

    def _restart_stats(self) -> None:
        """Rates and latencies describe the line from here on (not a compile it waited for)."""
        self.stats.restart()
        for camera in self.cameras:
            camera.stats.restart()

    def _enough(self, frames: int | None) -> bool:
        """Each camera inspected ``frames``, has no more to give, or is left out by the recipe."""
        if frames is None:
            return False
        judged = self._judged_cameras()
        left_out = {c.name for c in self.cameras if judged and c.name not in judged}
        return all(c.taken >= frames or c.slot.closed or c.name in left_out for c in self.cameras)

    def _judged_cameras(self) -> tuple[str, ...]:
        """The cameras whose frames the next batch takes (none named: all): those of the recipe
        coming into force with it, if one was chosen, so no frame of a camera it leaves out is judged."""
        recipe = self._next_recipe
        return recipe.cameras if recipe is not None else self.config.judged_cameras

    def _detect(self, batch: list[tuple[Camera, Frame, bool]]) -> tuple[float, list[Inspected]]:
        """One batch through the engine: the backend switch acts on its boundary, the frames of
        each size run at once. Returns when it began, and each frame with what the engine found."""
        first = batch[0][1]
        waited = time.perf_counter()
        if self.switch.at_frame_boundary(first):  # the run waited for a compile
            self.compile_s = time.perf_counter() - waited
            self._restart_stats()
        started = time.perf_counter()
        sizes: dict[tuple[int, int], list[tuple[Camera, Frame, bool]]] = {}
        for entry in batch:
            sizes.setdefault((entry[1].height, entry[1].width), []).append(entry)
        inspected = []
        for size, group in sizes.items():
            outs = self.engine.detect_batch([frame.image for _, frame, _ in group])
            self._say_off_size(size, outs[0].backend)
            self.switch.after_frame(group[0][1])
            inspected += [(c, frame, once, out) for (c, frame, once), out in zip(group, outs, strict=True)]
        return started, inspected

    def _judge(
        self, inspected: list[Inspected], started: float, frame_index: int, on_result: ResultCallback | None
    ) -> None:
        """Each camera judges, tracks and logs its own frame of a batch, and publishes the result;
        a recipe chosen meanwhile applies from this batch (taken at ``frame_index``) on."""
        if self._next_recipe is not None:
            self._change_recipe(frame_index)
        for camera, frame, once, out in inspected:
            camera.inspector.ask(frame, out, once)
        for camera, frame, once, out in inspected:
            result = camera.inspector.judge(frame, out, started, once)
            for stats in (camera.stats, self.stats):
                stats.add(result)
            if result.decided:
                self.outputs.decided(result.decided, result.backend)
            camera.latest.put(result)
            if on_result is not None:
                on_result(result)

    def _say_off_size(self, size: tuple[int, int], backend: str) -> None:
        """A camera whose frames are not the size the compiled backend was built for runs on eager."""
        compiled = self.switch.compiled
        off = self.engine.backend is compiled and backend == self.engine.eager.label
        if off and size not in self._off_size:
            self._off_size.add(size)
            built = compiled.frame_shape or (0, 0)
            log.info(
                "frames of %dx%d run on eager: the compiled backend is built for %dx%d",
                size[1],
                size[0],
                built[1],
                built[0],
            )

    def stop(self) -> None:
        """End ``run`` after the batch in hand; safe from any thread."""
        self._stop_asked = True
        self._stop.set()
        for camera in self.cameras:
            camera.source.cancel()

    def close(self) -> tuple[PartVerdict, ...]:
        """After ``run`` returned (or if it never ran): end the compile worker, decide the parts
        still in view (returned, and counted in ``stats``), close the run."""
        if self._closed:
            return ()
        self._closed = True
        self.switch.close()
        done: list[PartVerdict] = []
        now = time.perf_counter()
        try:
            for camera in self.cameras:
                try:
                    theirs = camera.inspector.finish()
                except BookProcessError as exc:  # the parts it followed ended with its process
                    log.warning("%s: the parts in view were left undecided: %s", camera.name, exc)
                    continue
                for part in theirs:
                    camera.stats.add_part(part, now)
                    self.stats.add_part(part, now)
                done += theirs
        finally:
            for process in self.book_processes:
                process.close()
        self.outputs.decided(done, self.engine.backend.label)
        self._ended = self._ended or STOPPED
        self._report_state()
        self._writer.end_run(self.run_id, self.frames)
        return tuple(done)

    def _record_swap(self, event: SwitchEvent) -> None:
        """Which backend inspected which stretch of frames goes into the run's record."""
        if event.kind in (SWAPPED, FELL_BACK):
            backend = event.detail if event.kind == SWAPPED else self.engine.eager.label
            self._writer.log_event(
                RunEventRecord(self.run_id, utc_at(event.at), event.frame or 0, "backend", backend)
            )
