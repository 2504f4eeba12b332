"""The one thread that writes the defect log.

The inference thread hands records over without waiting; this thread saves their images, and
commits at most every ``flush_interval_s`` so a crash loses at most that much. When a commit fails
(a full disk, a locked file) the rows stay in memory, the error is reported, and the commit is
retried: nothing is dropped.

The queue between them is bounded by what weighs in it, the images: while images of more than
``max_queued_image_mb`` wait for this thread (a disk that stalls, a commit that waits for a lock),
records are still taken but without their images, which are counted. Rows are never refused; a
row weighs about a kilobyte, so an hour of a stalled log is a few megabytes.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from inspector.detections import FIRST_CAMERA
from inspector.storage.database import StorageError, media_dir
from inspector.storage.models import Defect, Part, Run, RunEvent
from inspector.storage.retention import DiskBudget, ImageKeeper

log = logging.getLogger(__name__)
ErrorCallback = Callable[[str], None]
_Image = tuple[str | None, int, int]  # a saved image: its path, and where its corner lies in the frame
RETENTION_EVERY_S = 600.0
LOG_RECOVERED = "defect log writing again"  # told to on_error once a failed commit goes through
BEHIND = "the defect log is behind the line: new defect images are not saved until it catches up (rows are)"


@dataclass(frozen=True, slots=True)
class RunInfo:
    source: str
    model_path: str
    model_sha256: str | None
    backend: str
    device: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DefectRecord:
    """A defect as the inference thread hands it over; ``image`` is the region to keep as a JPEG
    (none for a defect on a part: its part's image shows it). ``frames`` and the frame span are
    those of a tracked defect; a sighting on one frame has none. ``name`` names its image file."""

    run_id: int
    detected_at: datetime
    frame_index: int
    class_name: str
    confidence: float
    box: tuple[float, float, float, float]
    backend: str
    image: np.ndarray | None = None
    image_origin: tuple[int, int] = (0, 0)
    frames: int | None = None
    first_frame: int | None = None
    last_frame: int | None = None
    name: str = ""
    camera: str = FIRST_CAMERA


@dataclass(frozen=True, slots=True)
class PartRecord:
    """A decided part and the defects on it; see ``models.Part``."""

    run_id: int
    part: int
    kind: str
    verdict: str
    defect_classes: tuple[str, ...]
    first_seen_at: datetime
    last_seen_at: datetime
    decided_at: datetime
    first_frame: int
    last_frame: int
    best_frame: int
    box: tuple[float, float, float, float]
    backend: str
    defects: tuple[DefectRecord, ...]
    image: np.ndarray | None = None
    image_origin: tuple[int, int] = (0, 0)
    camera: str = FIRST_CAMERA


@dataclass(frozen=True, slots=True)
class RunEventRecord:
    """A change during a run (which backend runs, from which frame); see ``models.RunEvent``."""

    run_id: int
    at: datetime
    frame_index: int
    kind: str
    detail: str


def utc_at(timestamp: float) -> datetime:
    """A ``time.time()`` value as naive UTC, as the database stores it."""
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)


def utc_now() -> datetime:
    return utc_at(time.time())


class DefectWriter:
    def __init__(
        self,
        engine: Engine,
        db_path: Path,
        flush_interval_s: float = 0.25,
        save_images: bool = True,
        on_error: ErrorCallback | None = None,
        jpeg_quality: int = 90,
        budget: DiskBudget | None = None,
        max_queued_image_mb: float = 256.0,
    ) -> None:
        self._engine = engine
        self._db_dir = Path(db_path).parent
        self._media = media_dir(Path(db_path))
        self.flush_interval_s = flush_interval_s
        self.save_images = save_images
        self.jpeg_quality = jpeg_quality
        self._on_error = on_error or (lambda message: None)
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.max_queued_image_bytes = int(max_queued_image_mb * 2**20)
        self._queued_image_bytes = 0  # images handed over that this thread has not saved yet
        self._queued_lock = threading.Lock()
        self.images_behind = 0  # images not saved because too many were waiting already
        self._thread = threading.Thread(target=self._loop, name="defect-writer", daemon=True)
        self._pending: list[dict[str, Any]] = []  # defect rows on no part
        self._parts: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []  # part rows, their defects
        self._events: list[dict[str, Any]] = []
        self._last_error: str | None = None
        self.committed = 0
        # the budget's news is no failure of the log: told as it is, without a "writing again" after
        self._keeper = ImageKeeper(engine, self._media, budget, self._on_error) if budget else None
        self._next_retention = 0.0  # when the retention next deletes old images

    @property
    def images_skipped(self) -> int:
        """Images not saved: free space was below the budget's floor, or the log was behind."""
        return (self._keeper.skipped if self._keeper else 0) + self.images_behind

    # Calls from other threads ----------------------------------------------------------------
    def start(self) -> DefectWriter:
        self._thread.start()
        return self

    def begin_run(self, info: RunInfo, timeout: float = 30.0) -> int:
        return int(self._call("run", info).result(timeout))

    def log(self, records: Sequence[DefectRecord]) -> None:
        if records:
            self._queue.put(("defects", self._admitted(records)))

    def log_parts(self, records: Sequence[PartRecord]) -> None:
        if records:
            self._queue.put(("parts", self._admitted(records)))

    def _admitted(self, records: Sequence[Any]) -> tuple[tuple[Any, ...], int, bool]:
        """The records as they are queued, the image bytes they add, and whether images were left
        out: when the queue's images would pass the bound, the records go without theirs."""
        images = [image for r in records for image in _images(r)]
        size = sum(image.nbytes for image in images)
        with self._queued_lock:
            behind = self._queued_image_bytes + size > self.max_queued_image_bytes
            if behind:
                self.images_behind += len(images)
                records, size = [_without_images(r) for r in records], 0
            self._queued_image_bytes += size
        return tuple(records), size, behind and bool(images)

    def log_event(self, event: RunEventRecord) -> None:
        self._queue.put(("event", event))

    def end_run(self, run_id: int, frames: int) -> None:
        self._queue.put(("end", (run_id, frames, utc_now())))

    def flush(self, timeout: float = 30.0) -> None:
        """Return once everything handed over so far is committed (or raise after ``timeout``)."""
        self._call("flush", None).result(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is queued and end the thread."""
        if self._thread.is_alive():
            self._queue.put(("stop", None))
            self._thread.join(timeout)

    @property
    def pending(self) -> int:
        """Defects handed over and not yet committed (parts without defects not counted)."""
        return len(self._pending) + sum(len(defects) for _, defects in self._parts)

    @property
    def _holding(self) -> bool:
        return bool(self._pending or self._parts or self._events)

    def _call(self, kind: str, payload: Any) -> Future[Any]:
        if not self._thread.is_alive():
            raise RuntimeError("the defect writer is not running")
        future: Future[Any] = Future()
        self._queue.put((kind, (payload, future)))
        return future

    # The writer thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        deadline: float | None = None  # when the oldest uncommitted row must be committed
        with Session(self._engine, expire_on_commit=False) as session:
            while True:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    kind, payload = self._queue.get(timeout=timeout)
                except queue.Empty:
                    kind, payload = "due", None
                try:
                    self._keep_retention()
                    if self._handle(session, kind, payload):
                        return
                except Exception as exc:  # a bug in one message must not end the log: say it, go on
                    log.exception("defect log writer: %s failed", kind)
                    self._report(f"defect log writer: {kind} not written ({type(exc).__name__}: {exc})")
                    if kind == "stop":
                        return
                if deadline is not None and time.monotonic() >= deadline:
                    self._commit(session)
                    deadline = None
                    if self._holding:  # the commit failed: retry, at most once a second
                        deadline = time.monotonic() + max(self.flush_interval_s, 1.0)
                if deadline is None and self._holding:
                    deadline = time.monotonic() + self.flush_interval_s

    def _handle(self, session: Session, kind: str, payload: Any) -> bool:
        """Act on one message; True once the thread is to end."""
        if kind in ("defects", "parts"):
            records, size, behind = payload
            try:
                if kind == "defects":
                    self._pending.extend(self._rows(records))
                else:
                    self._parts.extend(self._part_rows(records))
            finally:
                with self._queued_lock:
                    self._queued_image_bytes -= size
            if behind:
                log.warning("%s; %d images not saved so far", BEHIND, self.images_behind)
                self._report(BEHIND)
        elif kind == "run":
            info, future = payload
            self._commit(session)
            self._run_call(future, lambda info=info: self._insert_run(session, info))
        elif kind == "event":
            self._events.append(asdict(payload))
        elif kind == "end":
            self._end_run(session, *payload)
        elif kind == "flush":
            _, future = payload
            self._run_call(future, lambda: self._commit(session, must=True))
        elif kind == "stop":
            self._commit(session)
            if self.pending:
                self._on_error(
                    f"{self.pending} defects could not be written to the defect log: {self._last_error}"
                )
            return True
        return False

    def _keep_retention(self) -> None:
        """Old images are deleted at the start and every ten minutes while messages come."""
        if self._keeper is not None and time.monotonic() >= self._next_retention:
            self._next_retention = time.monotonic() + RETENTION_EVERY_S
            try:
                self._keeper.prune_old()
            except (OSError, SQLAlchemyError) as exc:
                log.warning("old defect images not deleted: %s", exc)

    @staticmethod
    def _run_call(future: Future[Any], fn: Callable[[], Any]) -> None:
        try:
            future.set_result(fn())
        except Exception as exc:
            future.set_exception(exc)

    def _insert_run(self, session: Session, info: RunInfo) -> int:
        run = Run(started_at=utc_now(), **asdict(info))
        session.add(run)
        try:
            session.flush()
            run_id = run.id  # read before the commit, so no read transaction stays open after it
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StorageError(f"cannot start a run in the defect log: {getattr(exc, 'orig', exc)}") from exc
        return run_id

    def _end_run(self, session: Session, run_id: int, frames: int, ended: datetime) -> None:
        try:
            session.execute(update(Run).where(Run.id == run_id).values(frames=frames, ended_at=ended))
        except SQLAlchemyError as exc:
            session.rollback()
            self._report(f"run {run_id} not closed in the defect log ({getattr(exc, 'orig', exc)})")
            return
        self._commit(session)

    def _commit(self, session: Session, must: bool = False) -> None:
        pending = self.pending
        try:
            if self._parts:
                stmt = insert(Part).returning(Part.id, sort_by_parameter_order=True)
                ids = session.scalars(stmt, [part for part, _ in self._parts]).all()
                on_parts = [
                    {**row, "part_id": part_id}
                    for part_id, (_, defects) in zip(ids, self._parts, strict=True)
                    for row in defects
                ]
                if on_parts:
                    session.execute(insert(Defect), on_parts)
            if self._pending:
                session.execute(insert(Defect), self._pending)
            if self._events:
                session.execute(insert(RunEvent), self._events)
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            reason = str(getattr(exc, "orig", exc))
            self._report(f"defect log not written ({reason}); {pending} defects kept in memory, retrying")
            if must:
                raise
            return
        self.committed += pending
        self._pending, self._parts, self._events = [], [], []
        if self._last_error is not None:
            self._last_error = None
            self._on_error(LOG_RECOVERED)

    def _report(self, message: str) -> None:
        if message != self._last_error:
            self._last_error = message
            self._on_error(message)

    def _rows(self, records: Sequence[DefectRecord], image: _Image = (None, 0, 0)) -> list[dict[str, Any]]:
        """Defect rows; ``image`` (path, x, y) is their part's, for those with none of their own."""
        rows = []
        for n, r in enumerate(records):
            own = r.image is not None
            name = f"{r.camera}-{r.name or f'f{r.frame_index:08d}-{n}'}"
            path = self._save_image(r.run_id, name, r.image) if own else image[0]
            x, y = r.image_origin if own else image[1:]
            rows.append(
                {
                    "run_id": r.run_id,
                    "detected_at": r.detected_at,
                    "frame_index": r.frame_index,
                    "class_name": r.class_name,
                    "confidence": r.confidence,
                    **_corners(r.box),
                    "backend": r.backend,
                    "image_path": path,
                    "image_x": x,
                    "image_y": y,
                    "frames": r.frames,
                    "first_frame": r.first_frame,
                    "last_frame": r.last_frame,
                    "camera": r.camera,
                }
            )
        return rows

    def _part_rows(self, records: Sequence[PartRecord]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        out = []
        for r in records:
            name = f"{r.camera}-p{r.part:06d}"
            path = self._save_image(r.run_id, name, r.image) if r.image is not None else None
            image = (path, *r.image_origin)
            row = {
                "run_id": r.run_id,
                "part": r.part,
                "kind": r.kind,
                "verdict": r.verdict,
                "defect_classes": ",".join(r.defect_classes),
                "first_seen_at": r.first_seen_at,
                "last_seen_at": r.last_seen_at,
                "decided_at": r.decided_at,
                "first_frame": r.first_frame,
                "last_frame": r.last_frame,
                "best_frame": r.best_frame,
                **_corners(r.box),
                "backend": r.backend,
                "image_path": path,
                "image_x": image[1],
                "image_y": image[2],
                "camera": r.camera,
            }
            out.append((row, self._rows(r.defects, image)))
        return out

    def _save_image(self, run_id: int, name: str, image: np.ndarray | None) -> str | None:
        if not self.save_images or image is None:
            return None
        if self._keeper is not None and not self._keeper.may_save():
            return None  # below the disk budget: the image gives way, its row does not
        folder = self._media / f"run-{run_id}"
        path = folder / f"{name}.jpg"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if not ok:
                raise OSError("JPEG encoding failed")
            path.write_bytes(data.tobytes())
        except (OSError, cv2.error) as exc:
            reason = getattr(exc, "strerror", None) or (str(exc).strip().splitlines() or ["?"])[-1]
            self._report(f"defect image not saved ({reason}); the defect is still logged")
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)  # no partial image left behind
            return None
        return str(path.relative_to(self._db_dir))


def _corners(box: tuple[float, float, float, float]) -> dict[str, float]:
    x1, y1, x2, y2 = box
    return {"x1": x1, "y1": y1, "x2": x2, "y2": y2}


def _images(record: DefectRecord | PartRecord) -> list[np.ndarray]:
    """The images a record carries: its own, and its defects' for a part."""
    own = [record.image] if record.image is not None else []
    if isinstance(record, PartRecord):
        own += [d.image for d in record.defects if d.image is not None]
    return own


def _without_images(record: DefectRecord | PartRecord) -> DefectRecord | PartRecord:
    if isinstance(record, PartRecord):
        return replace(record, image=None, defects=tuple(replace(d, image=None) for d in record.defects))
    return replace(record, image=None)
