"""Part books in processes of their own, for a line of many cameras.

At many cameras the station's interpreter lock is what limits the line (docs/PERFORMANCE.md), and
following parts is most of what judging a frame holds it for. A ``BookProcess`` keeps the part
books of a group of cameras in a process beside the station's: it is sent each frame's
detections and answers with the parts in view, the parts decided and the pictures to take from
the frame, which stays where it was captured. A ``RemoteBook`` is one camera's book there, used as
a ``PartBook`` is; ``ask`` sends it a frame ahead, so the books of every camera work at once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import fields, replace
from multiprocessing.connection import Connection
from operator import attrgetter

import numpy as np

from inspector.detections import Detection
from inspector.errors import InspectorError
from inspector.inspection.parts import (
    PartBook,
    PartInView,
    PartPictures,
    PartsConfig,
    PartVerdict,
    PictureOrders,
    part_picture,
)
from inspector.inspection.rules import InspectionRules

# what crosses the pipe is plain tuples of each value's fields: the pickle of a dataclass with slots
# runs Python code for every object, on the station's side too, four times the cost of a tuple's
_DETECTION = attrgetter(*(f.name for f in fields(Detection)))
_IN_VIEW = attrgetter(*(f.name for f in fields(PartInView)))

CAMERAS_PER_PROCESS = 16
"""A line of at least twice as many cameras follows its parts in processes, one per this many."""

Answer = tuple[list[PartVerdict], list[tuple], PictureOrders | None]  # the parts in view as their values


class BookProcessError(InspectorError):
    """A book process failed or ended; the message says which cameras' and why."""


def book_processes_for(cameras: int, asked: int | None, cpus: int) -> int:
    """How many processes follow the parts of a line of ``cameras``: as ``asked`` (0: none, in the
    station's own interpreter), else one per ``CAMERAS_PER_PROCESS`` cameras from twice that many
    on, at most a quarter of the ``cpus``."""
    if asked is not None:
        return max(0, min(asked, cameras))
    if cameras < 2 * CAMERAS_PER_PROCESS:
        return 0
    return min(cameras // CAMERAS_PER_PROCESS, cpus // 4)


class BookProcess:
    """The part books of a group of cameras, in a process of their own; started at once."""

    def __init__(self, configs: Sequence[PartsConfig], keep_images: bool) -> None:
        self.cameras = tuple(c.camera for c in configs)
        context = multiprocessing.get_context("spawn")  # no fork of a process that holds CUDA and threads
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, list(configs), keep_images),
            name=f"parts of {', '.join(self.cameras)}",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._rules: InspectionRules | None = None  # the rules last sent: sent again only when changed
        self._answers: list[deque[Answer]] = [deque() for _ in configs]
        self._ready = False
        self.books = [RemoteBook(self, i, c, keep_images) for i, c in enumerate(configs)]

    def wait_ready(self) -> None:
        """Return once the process has started and built its books (a line waits for it before its
        cameras start, so the first frames do not wait for the process's start instead)."""
        if not self._ready:
            self._receive()
            self._ready = True

    def send(self, message: tuple) -> None:
        try:
            self._conn.send(message)
        except (OSError, ValueError) as exc:
            raise self._ended() from exc

    def frame(self, place: int, item: tuple, rules: InspectionRules) -> None:
        """One camera's frame; its rules go along when they are not those sent last."""
        sent = None if rules is self._rules else rules
        self._rules = rules
        self.send(("frame", place, *item, sent))

    def answer(self, place: int) -> Answer:
        """The next answer for the camera at ``place`` (those for the others are kept for them)."""
        self.wait_ready()
        waiting = self._answers[place]
        while not waiting:
            at, answer = self._receive()
            self._answers[at].append(answer)
        return waiting.popleft()

    def _receive(self) -> tuple[int, Answer]:
        try:
            kind, at, *answer = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise self._ended() from exc
        if kind == "error":
            raise BookProcessError(f"following the parts of {self.cameras[at]} failed: {answer[0]}")
        return at, tuple(answer)  # type: ignore[return-value]

    def _ended(self) -> BookProcessError:
        self._process.join(timeout=1)
        return BookProcessError(
            f"the process following the parts of {', '.join(self.cameras)} ended "
            f"(exit status {self._process.exitcode})"
        )

    def close(self) -> None:
        """End the process (what it was sent is answered first); safe to call twice."""
        if self._conn.closed:
            return
        with contextlib.suppress(OSError, ValueError):  # a process that ended has nothing to be told
            self._conn.send(None)
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        self._conn.close()


class RemoteBook:
    """One camera's ``PartBook`` in a ``BookProcess``, used as a ``PartBook`` is, with the frame at
    hand here: the parts' pictures are taken from it on the book's orders."""

    def __init__(self, process: BookProcess, place: int, config: PartsConfig, keep_images: bool) -> None:
        self._process = process
        self._place = place
        self._config = config
        self.keep_images = keep_images
        self.pictures = PartPictures()
        self._asked: deque[int] = deque()  # the frames sent ahead whose answers are not taken yet

    @property
    def config(self) -> PartsConfig:
        return self._config

    @config.setter
    def config(self, config: PartsConfig) -> None:
        """New settings, in force from the next frame sent (a recipe chosen)."""
        self._config = config
        self._process.send(("config", self._place, config))

    def ask(
        self,
        frame_index: int,
        detections: Sequence[Detection],
        rules: InspectionRules,
        size: tuple[int, int],
        wall_time: float,
        once: bool = False,
    ) -> None:
        """Send a frame ahead; ``update`` (``judge_once`` when ``once``) takes the answer."""
        plain = [_DETECTION(d) for d in detections]
        self._process.frame(self._place, (frame_index, plain, size, wall_time, once), rules)
        self._asked.append(frame_index)

    def update(
        self,
        frame_index: int,
        detections: Sequence[Detection],
        rules: InspectionRules,
        image: np.ndarray,
        wall_time: float = 0.0,
    ) -> tuple[list[PartVerdict], list[PartInView]]:
        """As ``PartBook.update``; the frame's answer, its pictures taken from ``image``."""
        decided, view, orders = self._answer(frame_index, detections, rules, image, wall_time, False)
        return self.pictures.follow(orders, image, decided), [PartInView(*v) for v in view]

    def judge_once(
        self,
        frame_index: int,
        detections: Sequence[Detection],
        rules: InspectionRules,
        image: np.ndarray,
        wall_time: float = 0.0,
    ) -> PartVerdict:
        """As ``PartBook.judge_once``; the part's picture taken from ``image``."""
        (verdict,), _, _ = self._answer(frame_index, detections, rules, image, wall_time, True)
        if not self.keep_images:
            return verdict
        crop, origin = part_picture(image, verdict.box, loose=False)
        return replace(verdict, image=crop, image_origin=origin)

    def flush(self) -> list[PartVerdict]:
        """As ``PartBook.flush``: the parts still in view, decided."""
        self._process.send(("flush", self._place))
        decided, _, orders = self._process.answer(self._place)
        return self.pictures.follow(orders, None, decided)

    def _answer(
        self,
        frame_index: int,
        detections: Sequence[Detection],
        rules: InspectionRules,
        image: np.ndarray,
        wall_time: float,
        once: bool,
    ) -> Answer:
        if not self._asked:  # not sent ahead: sent now
            self.ask(frame_index, detections, rules, (image.shape[1], image.shape[0]), wall_time, once)
        asked = self._asked.popleft()
        if asked != frame_index:
            raise BookProcessError(
                f"{self._config.camera}: frame {frame_index} judged where {asked} was sent"
            )
        return self._process.answer(self._place)


def _serve(conn: Connection, configs: list[PartsConfig], keep_images: bool) -> None:
    """The book process: answers each message in turn until told to end (``None``) or its station's
    end of the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an operator's Ctrl-C is the station's to handle
    books = [PartBook(c, keep_images, frames_elsewhere=True) for c in configs]
    rules = InspectionRules()
    conn.send(("ready", -1))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        kind, place, *rest = message
        book = books[place]
        try:
            if kind == "config":
                book.config = rest[0]
                continue
            if kind == "flush":
                conn.send(("answer", place, book.flush(), [], book.take_orders()))
                continue
            index, plain, size, wall_time, once, sent = rest
            rules = sent if sent is not None else rules
            detections = [Detection(*d) for d in plain]
            if once:
                decided, view = [book.judge_once(index, detections, rules, None, wall_time, size)], []
            else:
                decided, view = book.update(index, detections, rules, None, wall_time, size)
            conn.send(("answer", place, decided, [_IN_VIEW(v) for v in view], book.take_orders()))
        except Exception as exc:
            last = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
            conn.send(("error", place, f"{type(exc).__name__}: {exc} ({where})"))
