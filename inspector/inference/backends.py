"""The two ways a frame is run: eager PyTorch in this thread, or compiled in a worker process.

The compiled backend compiles and runs in its own process (``compiled_worker``), so neither the
compile nor its kernels ever hold this process's interpreter lock: the eager backend keeps serving
the line at its normal rate while the other one gets ready, and the swap is one assignment.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch
import torch.multiprocessing as mp
from torch import nn
from torch._inductor.runtime.cache_dir_utils import cache_dir as inductor_cache_dir

from inspector.capture.frame_pool import FramePool
from inspector.inference.compiled_worker import (
    CANDIDATES,
    FAILED,
    ROWS,
    THRESHOLDS,
    WORKER_MS,
    Doorbell,
    block_until,
    compiled_marker,
    new_mailbox,
    serve,
    wait_for,
)
from inspector.inference.frame_pipeline import (
    MAX_CANDIDATES,
    PIPELINE_MODES,
    CompileProgress,
    ProgressCallback,
)
from inspector.inference.model import DetectorModel, Predictions

COMPILE_MODES: tuple[str, ...] = tuple(PIPELINE_MODES)
BACKENDS: tuple[str, ...] = ("eager", "compiled")
START_TIMEOUT_S = 300.0  # importing torch and loading a model, on the slowest line PC
FRAME_TIMEOUT_S = 10.0  # a worker that takes longer over one frame is broken


class CompileError(RuntimeError):
    """The compiled backend could not be built; the eager backend stays in charge."""


class EagerBackend:
    """Plain PyTorch in the calling thread: nothing to prepare, ready at once."""

    name = "eager"
    label = "eager"

    def __init__(self, network: nn.Module) -> None:
        self.module = Predictions(network)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


@dataclass(frozen=True, slots=True)
class CompiledResult:
    """What the worker found in a batch of frames: candidate rows, and where the time went."""

    candidates: np.ndarray  # (N, k, 7) float32, in model-input pixels; see ``decide_in_graph``
    transfer_ms: float  # the hand-over both ways, and a copy into shared memory for a frame not in the pool
    device_ms: float  # the worker's side: letterbox (reading the frame in place), network, NMS, copy back


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
    ) -> None:
        self.model = model
        self.imgsz = imgsz
        self.mode = _checked(mode)
        self.cache_dir = str(cache_dir) if cache_dir else None
        self.cache_hit = False
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

    @property
    def label(self) -> str:
        return f"compiled ({self.mode})"

    @property
    def ready(self) -> bool:
        return self.frame_shape is not None

    def is_cached(self, frame_shape: tuple[int, int], mode: str, batch: int = 1) -> bool:
        """Whether the on-disk cache holds this compile already: a compile then takes seconds, not
        minutes, so it is worth doing ahead of the operator's switch."""
        root = Path(self.cache_dir) if self.cache_dir else Path(inductor_cache_dir())
        return compiled_marker(root, self.model, frame_shape, self.imgsz, _checked(mode), batch).exists()

    def start(self) -> None:
        """Spawn the worker if it is not running; returns at once."""
        if self._process is not None and self._process.is_alive():
            return
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._bell = Doorbell(ctx)
        device = str(self.model.device)
        args = (child, self._bell, self.model.path, device, self.imgsz, self.cache_dir)
        self._process = ctx.Process(target=serve, args=args, name="inspector-compile", daemon=True)
        self._process.start()
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
    ) -> None:
        """Compile for ``batch`` frames of ``frame_shape`` (h, w) per call; raises ``CompileError``."""
        if mode is not None:
            self.mode = _checked(mode)
        if PIPELINE_MODES[self.mode].inductor is None and self.model.device.type != "cuda":
            raise CompileError(f"the {self.mode} mode needs a CUDA device; on the CPU choose default")
        start = time.perf_counter()
        self._cancelled = False
        with self._lock:
            self.frame_shape = None
            self.frame_pool.clear()
            try:
                if not self._loaded and progress is not None:
                    progress(CompileProgress("starting worker", 0.0, 0.0, "loading torch and the model"))
                self._ensure_loaded()
                h, w = frame_shape
                frames = self.frame_pool.allocate((h, w), reserved=batch)
                self._out_buf = torch.empty((batch, MAX_CANDIDATES, 7), dtype=torch.float32).share_memory_()
                mailbox = new_mailbox(batch)
                self._mailbox = mailbox.numpy()
                self._send(("prepare", self.mode, frames, batch, self._out_buf, mailbox))
                while True:
                    msg = self._receive(None)
                    if msg[0] == "progress" and progress is not None:
                        p: CompileProgress = msg[1]
                        progress(CompileProgress(p.stage, p.fraction, time.perf_counter() - start, p.detail))
                    elif msg[0] == "ready":
                        self.cache_hit = bool(msg[1])
                        break
                    elif msg[0] == "failed":
                        raise CompileError(msg[1])
            except CompileError:
                self.frame_pool.clear()
                if self._cancelled:
                    raise CompileError("compile cancelled") from None
                raise
        self.frame_shape, self.batch = (h, w), batch

    def __call__(self, images: Sequence[np.ndarray], conf: float, iou: float) -> CompiledResult:
        """Run a batch; on a GPU the NMS runs in the worker's graph with these thresholds."""
        shared, box = self.frame_pool.frames, self._mailbox
        if self.frame_shape is None or shared is None or self._out_buf is None or box is None:
            raise RuntimeError("compiled backend used before prepare()")
        if len(images) != self.batch:
            raise ValueError(f"{len(images)} frames where the compiled model takes {self.batch}")
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
                    # into this shared buffer took 4.3 ms instead of 1.1 on a 16-core H100 host
                    shared[i].numpy()[...] = image
                    row = i
                rows.append(row)
            box[THRESHOLDS : THRESHOLDS + 2] = conf, iou
            box[ROWS:] = rows
            self._bell.asked.release()
            process = self._process
            if not wait_for(self._bell.answered, lambda: not process.is_alive(), FRAME_TIMEOUT_S):
                self._give_up_on_worker()
            if box[FAILED]:
                raise RuntimeError(f"compiled worker: {self._receive(FRAME_TIMEOUT_S)[1]}")
            candidates = self._out_buf[:, : int(box[CANDIDATES])].numpy().copy()
            worker_ms = float(box[WORKER_MS])
        total_ms = (time.perf_counter() - start) * 1e3
        return CompiledResult(candidates, total_ms - worker_ms, worker_ms)

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
        conn, process = self._conn, self._process
        try:
            if not block_until(conn.poll, lambda: not process.is_alive(), timeout_s):
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


def _checked(mode: str) -> str:
    if mode not in PIPELINE_MODES:
        raise ValueError(f"unknown compile mode {mode!r}: choose one of {', '.join(COMPILE_MODES)}")
    return mode
