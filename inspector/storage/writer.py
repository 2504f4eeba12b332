"""The one thread that writes the defect log.

The inference thread hands records over without waiting; this thread saves their images, and
commits at most every ``flush_interval_s`` so a crash loses at most that much. When a commit fails
(a full disk, a locked file) the rows stay in memory, the error is reported, and the commit is
retried: nothing is dropped.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from inspector.storage.database import StorageError, media_dir
from inspector.storage.models import Defect, Run, RunEvent

ErrorCallback = Callable[[str], None]
LOG_RECOVERED = "defect log writing again"  # told to on_error once a failed commit goes through


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
    """A defect as the inference thread sees it; ``image`` is the region to keep as a JPEG."""

    run_id: int
    detected_at: datetime
    frame_index: int
    class_name: str
    confidence: float
    box: tuple[float, float, float, float]
    backend: str
    image: np.ndarray | None = None
    image_origin: tuple[int, int] = (0, 0)


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
    ) -> None:
        self._engine = engine
        self._db_dir = Path(db_path).parent
        self._media = media_dir(Path(db_path))
        self.flush_interval_s = flush_interval_s
        self.save_images = save_images
        self.jpeg_quality = jpeg_quality
        self._on_error = on_error or (lambda message: None)
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="defect-writer", daemon=True)
        self._pending: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._last_error: str | None = None
        self.committed = 0

    # Calls from other threads ----------------------------------------------------------------
    def start(self) -> DefectWriter:
        self._thread.start()
        return self

    def begin_run(self, info: RunInfo, timeout: float = 30.0) -> int:
        return int(self._call("run", info).result(timeout))

    def log(self, records: Sequence[DefectRecord]) -> None:
        if records:
            self._queue.put(("defects", tuple(records)))

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
        return len(self._pending)

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
                if kind == "defects":
                    self._pending.extend(self._rows(payload))
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
                    if self._pending:
                        self._on_error(
                            f"{len(self._pending)} defects could not be written to the defect log: "
                            f"{self._last_error}"
                        )
                    return
                if deadline is not None and time.monotonic() >= deadline:
                    self._commit(session)
                    deadline = None
                    if self._pending or self._events:  # the commit failed: retry, at most once a second
                        deadline = time.monotonic() + max(self.flush_interval_s, 1.0)
                if deadline is None and (self._pending or self._events):
                    deadline = time.monotonic() + self.flush_interval_s

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
        try:
            if self._pending:
                session.execute(insert(Defect), self._pending)
            if self._events:
                session.execute(insert(RunEvent), self._events)
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            reason = str(getattr(exc, "orig", exc))
            self._report(
                f"defect log not written ({reason}); {len(self._pending)} defects kept in memory, retrying"
            )
            if must:
                raise
            return
        self.committed += len(self._pending)
        self._pending, self._events = [], []
        if self._last_error is not None:
            self._last_error = None
            self._on_error(LOG_RECOVERED)

    def _report(self, message: str) -> None:
        if message != self._last_error:
            self._last_error = message
            self._on_error(message)

    def _rows(self, records: Sequence[DefectRecord]) -> list[dict[str, Any]]:
        rows = []
        for n, r in enumerate(records):
            image_path = self._save_image(r, n) if self.save_images and r.image is not None else None
            x1, y1, x2, y2 = r.box
            rows.append(
                {
                    "run_id": r.run_id,
                    "detected_at": r.detected_at,
                    "frame_index": r.frame_index,
                    "class_name": r.class_name,
                    "confidence": r.confidence,
                    "x1": x1,
                    "y1": y1,
                    "x2": x2,
                    "y2": y2,
                    "backend": r.backend,
                    "image_path": image_path,
                    "image_x": r.image_origin[0],
                    "image_y": r.image_origin[1],
                }
            )
        return rows

    def _save_image(self, record: DefectRecord, n: int) -> str | None:
        folder = self._media / f"run-{record.run_id}"
        path = folder / f"f{record.frame_index:08d}-{n}.jpg"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ok, data = cv2.imencode(".jpg", record.image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if not ok:
                raise OSError("JPEG encoding failed")
            path.write_bytes(data.tobytes())
        except OSError as exc:
            self._report(f"defect image not saved ({exc.strerror or exc}); the defect is still logged")
            return None
        return str(path.relative_to(self._db_dir))
