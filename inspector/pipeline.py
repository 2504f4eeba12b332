"""The path of one frame, without Qt: capture thread → newest-frame slot → inspection.

The desktop app's QThreads and the headless command both drive these same pieces.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from inspector.capture.base import Frame, FrameSource, SourceError
from inspector.detections import FIRST_CAMERA, Detection, StageTimes
from inspector.inference.engine import Engine, EngineOutput
from inspector.inspection.book_process import RemoteBook
from inspector.inspection.parts import PartBook, PartDefect, PartInView, PartVerdict, context_crop
from inspector.inspection.rules import InspectionRules, Verdict
from inspector.storage.writer import DefectRecord, DefectWriter, PartRecord, utc_at


class FrameSlot:
    """Hands frames from the capture thread to the inference thread.

    For a live source it keeps only the newest frame and counts the ones replaced unseen; for a
    recorded source the capture thread waits until the last frame was taken, so none is skipped.
    The slots of a line's cameras share one ``cond``, so ``take_newest`` can wait on all of them.
    """

    def __init__(self, keep_latest: bool, cond: threading.Condition | None = None) -> None:
        self.keep_latest = keep_latest
        self.dropped = 0
        self._frame: Frame | None = None
        self._closed = False
        self.error: str | None = None
        self._cond = cond or threading.Condition()

    def put(self, frame: Frame, stop: threading.Event) -> None:
        with self._cond:
            if self.keep_latest:
                if self._frame is not None:
                    self.dropped += 1
            else:
                while self._frame is not None and not stop.is_set() and not self._closed:
                    self._cond.wait(0.1)
            self._frame = frame
            self._cond.notify_all()

    def take(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or ``None`` when the source ended (see ``closed``) or on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout):
                return None
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            return frame

    def close(self, error: str | None = None) -> None:
        with self._cond:
            self._closed = True
            self.error = error
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed and self._frame is None


def take_newest(slots: Sequence[FrameSlot], timeout: float) -> list[tuple[int, Frame]]:
    """The frame of every slot that has one, as (slot index, frame), as soon as one has: waits up
    to ``timeout`` for a first, never for the others. Cameras that run free spread their frames over
    the frame period, so a wait for the rest lasts its whole length, and the frames that arrive
    while a batch runs make the next one (a 5 ms wait put 5-12 ms on the median latency of 8
    cameras, in step or not: docs/PERFORMANCE.md). Empty on timeout and once every slot is closed.
    The slots must share their condition."""
    cond = slots[0]._cond

    def first() -> bool:
        return any(s._frame is not None for s in slots) or all(s._closed for s in slots)

    with cond:
        if not cond.wait_for(first, timeout):
            return []
        taken = []
        for i, slot in enumerate(slots):
            if slot._frame is not None:
                taken.append((i, slot._frame))
                slot._frame = None
        cond.notify_all()
        return taken


def capture_loop(
    source: FrameSource,
    slot: FrameSlot,
    stop: threading.Event,
    on_frame: Callable[[Frame], None] | None = None,
) -> None:
    """Open, read and close ``source`` in the calling thread until it ends or ``stop`` is set."""
    error = None
    try:
        source.open()
        try:
            while not stop.is_set():
                frame = source.read()
                if frame is None:
                    break
                if on_frame is not None:
                    on_frame(frame)
                slot.put(frame, stop)
        finally:
            source.close()
    except SourceError as exc:
        error = str(exc)
    except Exception as exc:  # a broken driver must end the run with a message, not hang it
        error = f"{source.name}: {type(exc).__name__}: {exc}"
    slot.close(error)


@dataclass(frozen=True, slots=True)
class InspectionResult:
    """Everything known about one frame once inspected; ``done_at`` is ``perf_counter`` time."""

    frame: Frame
    detections: tuple[Detection, ...]
    verdict: Verdict
    backend: str
    wait_ms: float
    times: StageTimes
    done_at: float
    parts: tuple[PartInView, ...] = ()  # the parts tracked in this frame
    decided: tuple[PartVerdict, ...] = ()  # the parts whose verdict this frame settled
    camera: str = FIRST_CAMERA

    @property
    def latency_ms(self) -> float:
        """Capture to inspected result."""
        return (self.done_at - self.frame.captured_at) * 1e3

    def stage_ms(self) -> dict[str, float]:
        """Each stage's milliseconds, as the gauges and summaries track them."""
        return {
            "capture": self.wait_ms,
            "pre": self.times.pre_ms,
            "infer": self.times.infer_ms,
            "post": self.times.post_ms,
            "total": self.latency_ms,
        }


class Inspector:
    """Detect, judge, track and log one frame at a time, in the calling (inference) thread.

    With a ``PartBook`` the log gets one record per physical defect, written when its part is
    decided; ``log_frames`` also logs every defect on every frame (for audits). A line has one per
    camera, all sharing the engine (which runs their frames as one batch) and the writer.
    """

    def __init__(
        self,
        engine: Engine,
        rules: InspectionRules,
        writer: DefectWriter | None = None,
        run_id: int | None = None,
        save_images: bool = True,
        parts: PartBook | RemoteBook | None = None,
        log_frames: bool = False,
        camera: str = FIRST_CAMERA,
    ) -> None:
        self.engine = engine
        self.camera = camera
        self.rules = rules
        self.writer = writer
        self.run_id = run_id
        self.save_images = save_images
        self.parts = parts
        self.log_frames = log_frames or parts is None
        self.frames = 0
        self.defects_logged = 0

    def process(self, frame: Frame, once: bool = False) -> InspectionResult:
        """Inspect one frame; ``once``: a triggered inspection, the frame judged as one part."""
        started = time.perf_counter()
        return self.judge(frame, self.engine.detect(frame.image), started, once)

    def ask(self, frame: Frame, out: EngineOutput, once: bool = False) -> None:
        """Send a frame the engine ran to this camera's book ahead of ``judge``, where the book is in
        a process of its own: the books of a batch's cameras then follow their parts at once."""
        if isinstance(self.parts, RemoteBook):
            size = (frame.width, frame.height)
            self.parts.ask(frame.index, out.detections, self.rules, size, frame.wall_time, once)

    def judge(self, frame: Frame, out: EngineOutput, started: float, once: bool = False) -> InspectionResult:
        """Judge, track and log a frame the engine ran (``started``: when its batch began)."""
        verdict = self.rules.evaluate(out.detections)
        if self.log_frames and verdict.defects:
            self._log([self._frame_record(frame, d, out.backend) for d in verdict.defects])
        parts: tuple[PartInView, ...] = ()
        decided: tuple[PartVerdict, ...] = ()
        if self.parts is not None:
            seen = (frame.index, out.detections, self.rules, frame.image, frame.wall_time)
            if once:
                decided = (self.parts.judge_once(*seen),)
            else:
                done, view = self.parts.update(*seen)
                parts, decided = tuple(view), tuple(done)
            self._decide(decided, out.backend)
        self.frames += 1
        return InspectionResult(
            frame=frame,
            detections=out.detections,
            verdict=verdict,
            backend=out.backend,
            wait_ms=(started - frame.captured_at) * 1e3,
            times=out.times,
            done_at=time.perf_counter(),
            parts=parts,
            decided=decided,
            camera=self.camera,
        )

    def finish(self) -> tuple[PartVerdict, ...]:
        """The run ends: the parts still in view are decided with what was seen of them."""
        if self.parts is None:
            return ()
        done = tuple(self.parts.flush())
        self._decide(done, self.engine.backend.label)
        return done

    def _decide(self, parts: tuple[PartVerdict, ...], backend: str) -> None:
        if self.writer is None or self.run_id is None or not parts:
            return
        records = [self._part_record(p, backend) for p in parts if p.kind]
        self.writer.log_parts(records)
        self.defects_logged += sum(len(r.defects) for r in records)
        self._log([self._loose_record(p, backend) for p in parts if not p.kind])

    def _log(self, records: list[DefectRecord]) -> None:
        if records and self.writer is not None and self.run_id is not None:
            self.writer.log(records)
            self.defects_logged += len(records)

    def _part_record(self, p: PartVerdict, backend: str) -> PartRecord:
        """A part and its defects; its image (NG parts only) shows each defect where it lies."""
        image = p.image if self.save_images and p.ng else None
        return PartRecord(
            run_id=self.run_id,  # type: ignore[arg-type]
            part=p.part,
            kind=p.kind,
            verdict=p.verdict,
            defect_classes=p.defect_classes,
            first_seen_at=utc_at(p.first_seen),
            last_seen_at=utc_at(p.last_seen),
            decided_at=utc_at(p.decided_at),
            first_frame=p.first_frame,
            last_frame=p.last_frame,
            best_frame=p.best_frame,
            box=p.box,
            backend=backend,
            defects=tuple(self._tracked(d, p, backend) for d in p.defects),
            image=image,
            image_origin=p.image_origin,
            camera=self.camera,
        )

    def _loose_record(self, p: PartVerdict, backend: str) -> DefectRecord:
        """A defect tracked on no part: one record with its own image."""
        image = (p.image, p.image_origin) if self.save_images and p.image is not None else None
        return self._tracked(p.defects[0], p, backend, image, name=f"d{p.part:06d}")

    def _tracked(
        self,
        d: PartDefect,
        p: PartVerdict,
        backend: str,
        image: tuple[np.ndarray, tuple[int, int]] | None = None,
        name: str = "",
    ) -> DefectRecord:
        """A tracked defect, placed on its part's image (the part's best frame)."""
        box = d.pictured if d.pictured is not None else d.box
        frames = (d.frames, d.first_frame, d.last_frame)
        return self._record(
            d.seen_at, p.best_frame, d.class_name, d.confidence, box, backend, image, frames, name
        )

    def _frame_record(self, frame: Frame, d: Detection, backend: str) -> DefectRecord:
        # when the part was in view, which is what a line's other records are matched against; the
        # inference may come later (a busy CPU, a frame waiting while a compile finishes)
        image = context_crop(frame.image, d.box) if self.save_images else None
        return self._record(frame.wall_time, frame.index, d.class_name, d.confidence, d.box, backend, image)

    def _record(
        self,
        seen_at: float,
        frame_index: int,
        class_name: str,
        confidence: float,
        box: tuple[float, float, float, float],
        backend: str,
        image: tuple[np.ndarray, tuple[int, int]] | None,
        frames: tuple[int | None, int | None, int | None] = (None, None, None),
        name: str = "",
    ) -> DefectRecord:
        crop, origin = image if image is not None else (None, (0, 0))
        return DefectRecord(
            run_id=self.run_id,  # type: ignore[arg-type]
            detected_at=utc_at(seen_at),
            frame_index=frame_index,
            class_name=class_name,
            confidence=confidence,
            box=box,
            backend=backend,
            image=crop,
            image_origin=origin,
            frames=frames[0],
            first_frame=frames[1],
            last_frame=frames[2],
            name=name,
            camera=self.camera,
        )
