"""Thin QThread adapters over the Qt-free loops: capture, inspection and compilation.

Results are not sent as queued signals (a slow painter would let them pile up): the inspection
thread keeps only the newest result in a ``LatestResult`` box that the GUI polls, so the view
always shows the newest frame and nothing queues.
"""

from __future__ import annotations

import threading
from collections import Counter

from PySide6.QtCore import QThread, Signal

from inspector.capture.base import Frame, FrameSource
from inspector.inference.backends import CompiledBackend, CompileError, EagerBackend
from inspector.inference.frame_pipeline import CompileProgress
from inspector.metrics import LatencyTracker, RateMeter
from inspector.pipeline import FrameSlot, InspectionResult, Inspector, capture_loop


class LatestResult:
    """The newest inspection result, handed from the inspection thread to the GUI."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._result: InspectionResult | None = None
        self._serial = 0

    def put(self, result: InspectionResult) -> None:
        with self._lock:
            self._result = result
            self._serial += 1

    def get(self) -> tuple[int, InspectionResult | None]:
        with self._lock:
            return self._serial, self._result


class CaptureThread(QThread):
    """Opens, reads and closes the source in this thread; stops cooperatively."""

    def __init__(self, source: FrameSource, slot: FrameSlot) -> None:
        super().__init__()
        self.setObjectName("capture")
        self.source = source
        self.slot = slot
        self.rate = RateMeter()
        self._stop = threading.Event()

    def run(self) -> None:
        capture_loop(self.source, self.slot, self._stop, on_frame=self._count)

    def _count(self, _frame: Frame) -> None:
        self.rate.tick()

    def stop(self) -> None:
        self._stop.set()
        self.source.cancel()


class InspectionThread(QThread):
    """Takes the newest frame, inspects and logs it, and publishes the result.

    A backend handed to ``swap_backend`` takes over on the next frame boundary.
    """

    ended = Signal(str)  # why the stream ended ("" when it simply ran out)
    backend_failed = Signal(str)  # the compiled backend broke while running; eager took over

    def __init__(self, inspector: Inspector, slot: FrameSlot, latest: LatestResult) -> None:
        super().__init__()
        self.setObjectName("inspection")
        self.inspector = inspector
        self.slot = slot
        self.latest = latest
        self.rate = RateMeter()
        self.latency = LatencyTracker(maxlen=600)
        self.defect_counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self.paused = threading.Event()  # while set, frames are taken and let go uninspected
        self._next_backend: EagerBackend | CompiledBackend | None = None
        self._lock = threading.Lock()

    def swap_backend(self, backend: EagerBackend | CompiledBackend) -> None:
        with self._lock:
            self._next_backend = backend

    def run(self) -> None:
        while not self._stop.is_set():
            frame = self.slot.take(timeout=0.1)
            if frame is None:
                if self.slot.closed:
                    if not self._stop.is_set():  # the source ended on its own, not by a stop
                        self.ended.emit(self.slot.error or "")
                    return
                continue
            if self.paused.is_set():
                continue
            with self._lock:
                backend, self._next_backend = self._next_backend, None
            if backend is not None:
                self.inspector.engine.use(backend)
            try:
                result = self.inspector.process(frame)
            except Exception as exc:  # a dead inspection thread would freeze the line silently
                self.ended.emit(f"inspection stopped: {type(exc).__name__}: {exc}")
                return
            if reason := self.inspector.engine.take_fallback():
                self.backend_failed.emit(reason)
            self.rate.tick(result.done_at)
            for stage, ms in result.stage_ms().items():
                self.latency.add(stage, ms)
            self.defect_counts.update(d.class_name for d in result.verdict.defects)
            self.latest.put(result)

    def stop(self) -> None:
        self._stop.set()


class CompileThread(QThread):
    """Has the line's compiled backend prepared while the inspection thread keeps serving eager.

    The compile runs in the backend's worker process; this thread only relays its progress.
    ``cancel`` ends that process, so a cancelled compile stops at once.
    """

    progress = Signal(object)  # CompileProgress
    ready = Signal(object)  # CompiledBackend
    failed = Signal(str)

    def __init__(self, backend: CompiledBackend, mode: str, frame_shape: tuple[int, int]) -> None:
        super().__init__()
        self.setObjectName("compile")
        self.backend = backend
        self.mode = mode
        self.frame_shape = frame_shape
        self.cancelled = False

    def run(self) -> None:
        try:
            self.backend.prepare(self.frame_shape, self.mode, self._report)
        except CompileError as exc:
            if not self.cancelled:
                self.failed.emit(str(exc))
            return
        except Exception as exc:  # whatever else breaks, the GUI must hear of it
            if not self.cancelled:
                self.failed.emit(f"compile failed ({type(exc).__name__}: {exc})")
            return
        if not self.cancelled:
            self.ready.emit(self.backend)

    def _report(self, p: CompileProgress) -> None:
        if not self.cancelled:
            self.progress.emit(p)

    def cancel(self) -> None:
        self.cancelled = True
        self.backend.cancel()
