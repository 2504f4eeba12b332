"""The two ways a frame is run: eager PyTorch in this thread, or compiled in a worker process.

The compiled backend compiles and runs in its own process (``compiled_worker``), so neither the
compile nor its kernels ever hold this process's interpreter lock: the eager backend keeps serving
the line at its normal rate while the other one gets ready, and the swap is one assignment.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Protocol

import numpy as np
import torch
import torch.multiprocessing as mp
from torch._inductor.runtime.cache_dir_utils import cache_dir as inductor_cache_dir

from inspector.detections import StageTimes
from inspector.errors import ConfigError, InspectorError
from inspector.inference.calibration import CalibrationFrames
from inspector.inference.compile_durations import CompileDurations
from inspector.inference.compiled_worker import (
    CANDIDATES,
    FAILED,
    LETTERBOX_MS,
    ROWS,
    THRESHOLDS,
    WORKER_MS,
    Doorbell,
    answer_in,
    block_until,
    compile_kind,
    compiled_marker,
    new_mailbox,
    serve,
    spin_for,
    wait_for,
)
from inspector.inference.frame_pipeline import (
    MAX_CANDIDATES,
    PIPELINE_MODES,
    CompileProgress,
    ProgressCallback,
    default_mode,
)
from inspector.inference.frame_pool import FramePool
from inspector.inference.model import DetectorModel, Predictions
from inspector.inference.postprocess import select_batch, select_boxes, to_frame_pixels
from inspector.inference.preprocess import Preprocessor, letterbox_geometry

COMPILE_MODES: tuple[str, ...] = tuple(PIPELINE_MODES)
BACKENDS: tuple[str, ...] = ("eager", "compiled")
START_TIMEOUT_S = 300.0  # importing torch and loading a model, on the slowest line PC
FRAME_TIMEOUT_S = 10.0  # a worker that takes longer over one frame is broken


class CompileError(InspectorError):
    """The compiled backend could not be built; the eager backend stays in charge."""


@dataclass(frozen=True, slots=True)
class BatchBoxes:
    """What a backend found in a batch: per frame, (n, 6) ``x1 y1 x2 y2 score class`` in frame pixels."""

    boxes: list[np.ndarray]
    times: StageTimes


class Backend(Protocol):
    """The one call shape every backend has, so the engine never asks which one it holds."""

    label: str

    def detect(self, images: Sequence[np.ndarray], conf: float, iou: float) -> BatchBoxes: ...

    def fits(self, frame_shape: tuple[int, int]) -> bool:
        """Whether it runs frames of this (h, w); a camera of another size runs on eager."""
        ...


class EagerBackend:
    """Plain PyTorch in the calling thread: nothing to prepare, ready at once."""

    name = "eager"
    label = "eager"

    def __init__(self, model: DetectorModel, imgsz: int, max_det: int = 300) -> None:
        self.model = model
        self.max_det = max_det
        self.module = Predictions(model.network)
        self.preprocess = Preprocessor(imgsz, model.stride, model.device, model.dtype)
        self._sync = _synchronizer(model.device)

    def fits(self, frame_shape: tuple[int, int]) -> bool:
        return True

    def detect(self, images: Sequence[np.ndarray], conf: float, iou: float) -> BatchBoxes:
        sync = self._sync
        t0 = time.perf_counter()
        with torch.inference_mode():
            x, box = self.preprocess(images)
            sync()
            t1 = time.perf_counter()
            raw = self.module(x)
            sync()
            t2 = time.perf_counter()
            end2end = self.model.end2end
            found = [to_frame_pixels(select_boxes(r, conf, iou, self.max_det, end2end), box) for r in raw]
        t3 = time.perf_counter()
        return BatchBoxes(found, StageTimes((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3))


def _synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


@dataclass(frozen=True, slots=True)
class CompiledResult:
    """What the worker found in a batch of frames: candidate rows, and where the time went."""

    candidates: np.ndarray  # (N, k, 7) float32, in model-input pixels; see ``decide_in_graph``
    transfer_ms: float  # the hand-over both ways, and a copy into shared memory for a frame not in the pool
    device_ms: float  # the worker's side: letterbox (reading the frame in place), network, NMS, copy back
    letterbox_ms: float = 0.0  # the part of ``device_ms`` spent letterboxing outside the compiled function


class CompiledBackend:
    """A worker process that compiles the model for one frame size and then runs it.

    ``start`` spawns the worker (imports and model load happen there, in the background);
    ``prepare`` compiles for a frame size, reporting each stage; calling it runs one frame.
    ``cancel`` ends the worker at once, which is the only way to stop a compile midway.
    A frame captured into ``frame_pool`` is read by the worker where it lies; any other is copied.
    """

    name = "compiled"

    def __init__(
        self,
        model: DetectorModel,
        imgsz: int,
        mode: str = "reduce-overhead",
        cache_dir: str | Path | None = None,
        pool_slots: int = 6,
        max_det: int = 300,
    ) -> None:
        self.model = model
        self.max_det = max_det
        self.imgsz = imgsz
        self.mode = _checked(mode)
        self.cache_dir = str(cache_dir) if cache_dir else None
        self.cache_hit = False
        self.precision = ""  # what the openvino mode runs in, once prepared
        self.frame_shape: tuple[int, int] | None = None  # the frame size it is ready for
        self.batch = 1  # frames per call it is ready for
        self._conn = None
        self._process = None
        self._bell: Doorbell | None = None
        self._mailbox: np.ndarray | None = None  # a view of the shared one the worker also holds
        self._loaded = False
        self._lock = threading.Lock()  # one conversation with the worker at a time
        self.frame_pool = FramePool(pool_slots)  # filled for the frame size of each prepare
        self._out_buf: torch.Tensor | None = None
        self._cancelled = False
        self._cancel_event: threading.Event | None = None
        self._calibration: CalibrationFrames | None = None  # while an INT8 compile collects frames
        self._spin_s = spin_for(model.device)  # how long a frame's answer is polled for first

    @property
    def label(self) -> str:
        said = not self.precision or self.precision in self.mode  # openvino-int8 says it already
        return f"compiled ({self.mode}{'' if said else ' ' + self.precision})"

    def detect(self, images: Sequence[np.ndarray], conf: float, iou: float) -> BatchBoxes:
        """``__call__``, then each frame's candidates decided and put in frame pixels."""
        out = self(images, conf, iou)
        t0 = time.perf_counter()
        height, width = images[0].shape[:2]
        box = letterbox_geometry(height, width, self.imgsz, self.model.stride).letterbox
        end2end = self.model.end2end
        found = select_batch(out.candidates, conf, iou, self.max_det, end2end, box)
        post_ms = (time.perf_counter() - t0) * 1e3
        pre_ms, infer_ms = out.transfer_ms + out.letterbox_ms, out.device_ms - out.letterbox_ms
        return BatchBoxes(found, StageTimes(pre_ms, infer_ms, post_ms))

    @property
    def ready(self) -> bool:
        return self.frame_shape is not None

    def fits(self, frame_shape: tuple[int, int]) -> bool:
        return frame_shape == self.frame_shape

    def is_cached(self, frame_shape: tuple[int, int], mode: str, batch: int = 1) -> bool:
        """Whether the on-disk cache holds this compile already: a compile then takes seconds, not
        minutes, so it is worth doing ahead of the operator's switch."""
        root = self._cache_root()
        return compiled_marker(root, self.model, frame_shape, self.imgsz, _checked(mode), batch).exists()

    def _cache_root(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else Path(inductor_cache_dir())

    def start(self) -> None:
        """Spawn the worker if it is not running; returns at once."""
        if self._process is not None and self._process.is_alive():
            return
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._bell = Doorbell(ctx)
        model = self.model
        which = (model.path, model.sha256, model.trusted, str(model.device))
        args = (child, self._bell, *which, self.imgsz, self.cache_dir)
        process = ctx.Process(target=serve, args=args, name="inspector-compile", daemon=True)
        process.start()  # before it is shared: ``cancel`` and ``close`` see only started workers
        self._process = process
        child.close()
        self._conn, self._loaded, self.frame_shape = parent, False, None

    def wait_started(self) -> None:
        """Start the worker and wait until it has loaded the model; raises ``CompileError``."""
        with self._lock:
            self._ensure_loaded()

    def _ensure_loaded(self) -> None:
        self.start()
        if not self._loaded:
            self._expect("loaded", START_TIMEOUT_S)
            self._loaded = True

    def prepare(
        self,
        frame_shape: tuple[int, int],
        mode: str | None = None,
        progress: ProgressCallback | None = None,
        batch: int = 1,
        cancelled: threading.Event | None = None,
    ) -> None:
        """Compile for ``batch`` frames of ``frame_shape`` (h, w) per call; raises ``CompileError``.

        ``cancelled``, set by whoever calls ``cancel``, also stops a compile whose worker had not
        started yet when ``cancel`` came (a kill then finds no process)."""
        if mode is not None:
            self.mode = _checked(mode)
        needs, device = PIPELINE_MODES[self.mode].device, self.model.device.type
        if needs is not None and needs != device:
            where = {"cuda": "a CUDA device", "cpu": "the CPU (--device cpu)"}[needs]
            raise CompileError(f"the {self.mode} mode runs on {where}; here choose {default_mode(device)}")
        start = time.perf_counter()
        self._cancelled = False
        durations = CompileDurations(self._cache_root() / "inspector-compiled")
        kind = compile_kind(self.model, frame_shape, self.imgsz, self.mode, batch)
        expected = durations.last(kind, warm=self.is_cached(frame_shape, self.mode, batch))
        with self._lock:
            self.frame_shape, self.precision = None, ""
            self.frame_pool.clear()
            self._cancel_event = cancelled
            try:
                h, w = frame_shape
                if PIPELINE_MODES[self.mode].int8:  # filled by ``offer`` from now on, while the worker starts
                    geo = letterbox_geometry(h, w, self.imgsz, self.model.stride)
                    self._calibration = CalibrationFrames(geo)
                if not self._loaded and progress is not None:
                    loading = "loading torch and the model"
                    progress(CompileProgress("starting worker", 0.0, 0.0, loading, expected))
                self._ensure_loaded()
                if cancelled is not None and cancelled.is_set():
                    raise CompileError("compile cancelled")
                frames = self.frame_pool.allocate((h, w), reserved=batch)
                self._out_buf = torch.empty((batch, MAX_CANDIDATES, 7), dtype=torch.float32).share_memory_()
                mailbox = new_mailbox(batch)
                self._mailbox = mailbox.numpy()
                message = ("prepare", self.mode, frames, batch, self._out_buf, mailbox, self._calibration)
                self._send(message)
                while True:
                    msg = self._receive(None)
                    if msg[0] == "progress" and progress is not None:
                        p: CompileProgress = msg[1]
                        elapsed = time.perf_counter() - start
                        progress(CompileProgress(p.stage, p.fraction, elapsed, p.detail, expected))
                    elif msg[0] == "ready":
                        self.cache_hit, self.precision = bool(msg[1]), str(msg[2])
                        durations.record(kind, self.cache_hit, time.perf_counter() - start)
                        break
                    elif msg[0] == "failed":
                        raise CompileError(msg[1])
            except CompileError:
                self.frame_pool.clear()
                if self._cancelled or (cancelled is not None and cancelled.is_set()):
                    raise CompileError("compile cancelled") from None
                raise
            finally:
                self._cancel_event = self._calibration = None
        self.frame_shape, self.batch = (h, w), batch

    def calibrated(self) -> bool:
        """Whether the compile under way has every frame of the line it calibrates on."""
        calibration = self._calibration
        return calibration is not None and calibration.taken() >= calibration.size

    def offer(self, image: np.ndarray) -> None:
        """A frame the line inspects while this backend prepares: an INT8 compile calibrates on them."""
        calibration = self._calibration
        if calibration is not None:
            calibration.offer(image)

    def __call__(self, images: Sequence[np.ndarray], conf: float, iou: float) -> CompiledResult:
        """Run a batch; on a GPU the NMS runs in the worker's graph with these thresholds."""
        shared, box = self.frame_pool.frames, self._mailbox
        if self.frame_shape is None or shared is None or self._out_buf is None or box is None:
            raise RuntimeError("compiled backend used before prepare()")
        if not 1 <= len(images) <= self.batch:
            raise ValueError(f"{len(images)} frames where the compiled model takes 1 to {self.batch}")
        for image in images:
            if image.shape[:2] != self.frame_shape:
                raise ValueError(
                    f"frame size changed from {self.frame_shape[1]}x{self.frame_shape[0]} to "
                    f"{image.shape[1]}x{image.shape[0]}; the compiled model is built for one size"
                )
        start = time.perf_counter()
        with self._lock:
            rows = []
            for i, image in enumerate(images):
                row = self.frame_pool.index_of(image)
                if row is None:
                    # a numpy copy, which reads a frozen frame without a warning; torch's threaded copy
                    # into this shared buffer is the slower one here (docs/PERFORMANCE.md)
                    shared[i].numpy()[...] = image
                    row = i
                rows.append(row)
            box[THRESHOLDS : THRESHOLDS + 2] = conf, iou
            box[ROWS:] = rows + [-1] * (self.batch - len(rows))  # a smaller batch leaves entries unused
            self._bell.asked.release()
            alive = self._process.is_alive
            if not wait_for(self._bell.answered, lambda: not alive(), FRAME_TIMEOUT_S, self._spin_s):
                self._give_up_on_worker()
            if box[FAILED]:
                raise RuntimeError(f"compiled worker: {self._receive(FRAME_TIMEOUT_S)[1]}")
            candidates = answer_in(self._out_buf, len(images), int(box[CANDIDATES])).numpy().copy()
            worker_ms, letterbox_ms = float(box[WORKER_MS]), float(box[LETTERBOX_MS])
        total_ms = (time.perf_counter() - start) * 1e3
        return CompiledResult(candidates, total_ms - worker_ms, worker_ms, letterbox_ms)

    def _give_up_on_worker(self) -> NoReturn:
        """A frame got no answer: the worker is ended (a late answer must not pass for the next
        frame's), the backend needs a new prepare, and the caller learns why."""
        self.frame_shape = None
        if not self._process.is_alive():
            raise self._exited()
        self._process.kill()
        self._process.join(1.0)
        raise CompileError(f"compile worker stopped answering (no frame in {FRAME_TIMEOUT_S:.0f} s)")

    def cancel(self) -> None:
        """Stop a compile midway by ending the worker; ``prepare`` then raises ``CompileError``."""
        self._cancelled = True
        if self._process is not None and self._process.is_alive():
            self._process.kill()

    def close(self, timeout_s: float = 5.0) -> None:
        """End the worker and forget it: politely when idle, at once when mid-compile."""
        if self._process is None:
            return
        if self._process.is_alive():
            if self._lock.locked():  # a compile is running: it cannot be interrupted any other way
                self._process.kill()
            else:
                with contextlib.suppress(OSError):
                    self._conn.send(("close",))
                    self._bell.asked.release()
        self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout_s)
        self._conn.close()
        self._process = self._conn = self._bell = self._mailbox = None
        self.frame_shape = None
        self.frame_pool.clear()

    def _expect(self, kind: str, timeout_s: float) -> None:
        msg = self._receive(timeout_s)
        if msg[0] == "failed":
            raise CompileError(msg[1])
        if msg[0] != kind:
            raise CompileError(f"compile worker said {msg[0]!r} where {kind!r} was due")

    def _send(self, msg: tuple) -> None:
        try:
            self._conn.send(msg)
            self._bell.asked.release()  # one post per message, as the worker waits for it
        except OSError:
            raise self._exited() from None

    def _receive(self, timeout_s: float | None) -> tuple:
        """The worker's next message; a dead or silent worker becomes a ``CompileError``."""
        conn, process, cancel = self._conn, self._process, self._cancel_event
        try:
            if not block_until(conn.poll, lambda: not process.is_alive() or _is_set(cancel), timeout_s):
                if _is_set(cancel):  # mid-conversation: the worker is ended, a new one starts clean
                    process.kill()
                    process.join(5.0)
                    raise CompileError("compile cancelled")
                if process.is_alive():
                    raise CompileError("compile worker stopped answering")
                raise EOFError
            return conn.recv()
        except (EOFError, OSError):
            raise self._exited() from None

    def _exited(self) -> CompileError:
        """The error for a worker that has died, once it is reaped (so its exit code is known)."""
        self._process.join(1.0)
        return CompileError(f"compile worker exited (exit code {self._process.exitcode})")


def _is_set(event: threading.Event | None) -> bool:
    return event is not None and event.is_set()


def _checked(mode: str) -> str:
    if mode not in PIPELINE_MODES:
        raise ConfigError(f"unknown compile mode {mode!r}: choose one of {', '.join(COMPILE_MODES)}")
    return mode
