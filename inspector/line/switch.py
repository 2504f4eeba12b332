"""The eager ⇄ compiled policy of a running line, as plain Python with events.

The operator (or a run's options) says which backend it wants; the switch compiles in the
background while eager keeps serving, compiles ahead on a GPU when the on-disk cache holds the
compile, cancels, falls back when the compiled backend fails, and swaps backends only on a frame
boundary, in the inspection thread. Each step is a ``SwitchEvent``, so every front end shows the same
story and the policy is tested without a window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from inspector.capture.base import Frame
from inspector.inference.backends import Backend, CompiledBackend, CompileError
from inspector.inference.engine import Engine
from inspector.inference.frame_pipeline import PIPELINE_MODES, CompileProgress, modes_for

log = logging.getLogger(__name__)

PROGRESS, READY, FAILED, CANCELLED, SWAPPED, FELL_BACK = (
    "progress",
    "ready",
    "failed",
    "cancelled",
    "swapped",
    "fell_back",
)


MODE_HELP: dict[str, str] = {name: how.help for name, how in PIPELINE_MODES.items()}
"""The compile modes, each with a line that says what it does."""


@dataclass(frozen=True, slots=True)
class SwitchEvent:
    """One step of the switch.

    ``ahead`` marks a compile started ahead, which nobody has asked for yet (no alarm when it fails).
    ``detail`` is the failure's reason, or the backend's label on ``swapped`` and ``fell_back``;
    ``frame`` is the index of the first frame the new backend ran.
    """

    kind: str
    ahead: bool = False
    progress: CompileProgress | None = None
    detail: str = ""
    frame: int | None = None
    at: float = field(default_factory=time.time)


EventCallback = Callable[[SwitchEvent], None]


class BackendSwitch:
    """Which backend runs the next frame, and the compile that gets the compiled one ready.

    ``batch``: the most frames one call runs (a line's cameras); the compile takes that many."""

    def __init__(
        self,
        engine: Engine,
        compiled: CompiledBackend,
        mode: str,
        compiles_ahead: bool = False,
        batch: int = 1,
    ) -> None:
        self.engine = engine
        self.compiled = compiled
        self.mode = mode
        self.compiles_ahead = compiles_ahead
        self.batch = batch
        self.wanted = "eager"
        self._wait = False  # the run waits for the compile at its first frame (a headless run)
        self._wait_after_calibration = False  # or, for an INT8 compile, once it has its frames
        self._listeners: list[EventCallback] = []
        self._lock = threading.RLock()
        self._compile: threading.Thread | None = None
        self._cancelled = threading.Event()  # the current compile's; a new one for each compile
        self._ahead = False
        self._pending: Backend | None = None  # takes over at the next frame boundary
        self._shape: tuple[int, int] | None = None  # the newest frame's (h, w)
        self.last_progress: CompileProgress | None = None

    def subscribe(self, listener: EventCallback) -> None:
        """``listener`` is called in whichever thread the step happens: keep it short."""
        self._listeners.append(listener)

    def usable_modes(self) -> list[str]:
        """The compile modes that run on this line's device, its default first."""
        return modes_for(self.engine.model.device.type)

    @property
    def compiling(self) -> bool:
        return self._compile is not None

    @property
    def compiling_ahead(self) -> bool:
        return self._compile is not None and self._ahead

    # What the operator asks, from any thread -----------------------------------------------------
    def want_compiled(self, mode: str | None = None, wait: bool = False) -> None:
        """Compile (unless ready or compiling already) and swap once ready. Before the first frame the
        compile waits for it, to know the frame size; with ``wait`` the run then waits for the compile."""
        with self._lock:
            if mode is not None and self._compile is None:
                self.mode = mode
            self.wanted, self._wait = "compiled", wait
            if self._compile is not None:
                self._ahead = False  # the operator now waits for the compile already running
                return
            if self._shape is None:
                return
            if self._ready_for(self._shape):
                self._pending = self.compiled
                ready_now = True
            else:
                ready_now = False
                self._start_compile(self._shape, ahead=False)
        if ready_now:
            self._emit(SwitchEvent(READY, detail="compiled earlier in this run"))

    def want_eager(self) -> None:
        """Eager from the next frame; a compile the operator started is cancelled, one started ahead
        goes on for a later switch."""
        with self._lock:
            self.wanted = "eager"
            self._pending = self.engine.eager if self.engine.backend is not self.engine.eager else None
            operators = self._compile is not None and not self._ahead
        if operators:
            self.cancel()

    def cancel(self) -> None:
        """End the compile in progress (its worker is killed): eager stays in charge."""
        with self._lock:
            thread, ahead = self._compile, self._ahead
            if thread is None:
                return
            self._compile, self._ahead = None, False
            if not ahead:
                self.wanted = "eager"
            self._cancelled.set()
        self.compiled.cancel()
        self._emit(SwitchEvent(CANCELLED, ahead=ahead))

    # The inspection thread ----------------------------------------------------------------------
    def at_frame_boundary(self, frame: Frame) -> bool:
        """Called before each frame: starts a compile the first frame makes possible, and swaps in a
        backend that became ready since the last frame. True when the run waited for a compile."""
        shape = (frame.height, frame.width)
        with self._lock:
            first, self._shape = self._shape is None, shape
            start = None
            if first and self._compile is None:
                if self.wanted == "compiled" and not self._ready_for(shape):
                    # an INT8 compile calibrates on frames eager inspects: the run waits once it has them
                    self._wait_after_calibration = self._wait and self._calibrates(shape)
                    start = "wait" if self._wait and not self._wait_after_calibration else "now"
                elif self.compiles_ahead and self.compiled.is_cached(shape, self.mode, self.batch):
                    start = "ahead"
            if start in ("now", "ahead"):
                self._start_compile(shape, ahead=start == "ahead")
        if start == "wait":
            with self._lock:
                self._compile, self._cancelled = threading.current_thread(), threading.Event()
            self._run_compile(shape, self.mode, self._cancelled)
        waited = start == "wait"
        compiling = self._compile
        if compiling is not None:
            self.compiled.offer(frame.image)
            if self._wait_after_calibration and self.compiled.calibrated():
                compiling.join()
                waited = True
        if waited or compiling is None:
            self._wait_after_calibration = False
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None and pending is not self.engine.backend:
            self.engine.use(pending)
            self._emit(SwitchEvent(SWAPPED, detail=pending.label, frame=frame.index))
        return waited

    def after_frame(self, frame: Frame) -> None:
        """Called after each frame: a compiled backend that broke on it has handed over to eager."""
        if reason := self.engine.take_fallback():
            with self._lock:
                self.wanted, self._pending = "eager", None
            self._emit(SwitchEvent(FELL_BACK, detail=reason, frame=frame.index))

    def close(self, timeout_s: float = 10.0) -> None:
        """Cancel a compile and wait for its thread, then end the compile worker."""
        with self._lock:
            thread = self._compile
            self._compile = None
            self._cancelled.set()
        if thread is not None and thread is not threading.current_thread():
            self.compiled.cancel()
            thread.join(timeout_s)
        self.compiled.close()

    # Inside ------------------------------------------------------------------------------------
    def _calibrates(self, shape: tuple[int, int]) -> bool:
        """Whether a compile for ``shape`` needs frames of the line (INT8, not in the cache yet)."""
        return PIPELINE_MODES[self.mode].int8 and not self.compiled.is_cached(shape, self.mode, self.batch)

    def _ready_for(self, shape: tuple[int, int]) -> bool:
        c = self.compiled
        return c.ready and c.mode == self.mode and c.frame_shape == shape and c.batch == self.batch

    def _start_compile(self, shape: tuple[int, int], ahead: bool) -> None:
        """Under the lock: a thread that relays the compile worker's progress and outcome."""
        self._ahead = ahead
        self.last_progress = CompileProgress("starting", 0.0, 0.0)
        self._cancelled = threading.Event()
        thread = threading.Thread(
            target=self._run_compile, args=(shape, self.mode, self._cancelled), name="compile", daemon=True
        )
        self._compile = thread
        thread.start()

    def _run_compile(self, shape: tuple[int, int], mode: str, cancelled: threading.Event) -> None:
        me = threading.current_thread()
        try:
            self.compiled.prepare(
                shape, mode, lambda p: self._on_progress(me, p), batch=self.batch, cancelled=cancelled
            )
        except CompileError as exc:
            outcome, detail = FAILED, str(exc)
        except Exception as exc:  # whatever else breaks, the front end must hear of it
            log.exception("compile failed")
            outcome, detail = FAILED, f"compile failed ({type(exc).__name__}: {exc})"
        else:
            outcome, detail = READY, ""
        with self._lock:
            if self._compile is not me:  # cancelled meanwhile: that was said already
                return
            self._compile, ahead, self._ahead = None, self._ahead, False
            if outcome == READY and self.wanted == "compiled":
                self._pending = self.compiled
            if outcome == FAILED and not ahead:
                self.wanted = "eager"
        if outcome == FAILED:
            log.warning("compile %s failed%s: %s", mode, " ahead" if ahead else "", detail)
        self._emit(SwitchEvent(outcome, ahead=ahead, detail=detail, progress=self.last_progress))

    def _on_progress(self, thread: threading.Thread, p: CompileProgress) -> None:
        with self._lock:
            if self._compile is not thread:
                return
            self.last_progress, ahead = p, self._ahead
        self._emit(SwitchEvent(PROGRESS, ahead=ahead, progress=p))

    def _emit(self, event: SwitchEvent) -> None:
        for listener in self._listeners:
            listener(event)
