"""The frame value and the protocol every frame source follows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from inspector.errors import InspectorError


class SourceError(InspectorError):
    """A source could not be opened or read; the message is meant for the operator."""


@dataclass(frozen=True, slots=True)
class TruthBox:
    """A defect or a part the synthetic line placed on purpose, in frame pixels.

    ``part`` is the id of the part it lies on (a part's own box: its id); ``index`` numbers the
    defects of one part (-1 for the part's own box), so each physical defect has one identity.
    """

    class_name: str
    x1: float
    y1: float
    x2: float
    y2: float
    part: int = -1
    index: int = -1

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True, slots=True)
class PartTruth:
    """A part fully inside the frame, with the defects it carries (empty for a good part)."""

    part_id: int
    box: tuple[float, float, float, float]
    defects: tuple[TruthBox, ...]
    kind: str = ""


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image; it crosses each thread boundary once and is never mutated.

    ``captured_at`` is ``time.perf_counter()`` at capture, so every later stage can measure its
    latency from the moment the pixels existed; ``wall_time`` is ``time.time()`` then, the time a
    defect seen in it is logged at. ``image_path`` names the file a folder source read. ``truth``
    is only known for the synthetic line: the defects and parts at least half in view; ``truncated``
    holds the slivers of those cut off by the frame edge, which neither a label nor a score should
    count.
    """

    image: np.ndarray
    index: int
    captured_at: float
    wall_time: float
    image_path: str | None = None
    truth: tuple[TruthBox, ...] | None = None
    truncated: tuple[TruthBox, ...] | None = field(default=None, repr=False)
    parts: tuple[PartTruth, ...] | None = field(default=None, repr=False)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def make_frame(image: np.ndarray, index: int, **extra: object) -> Frame:
    """Freeze the pixels and stamp the capture time."""
    image.setflags(write=False)
    return Frame(image, index, time.perf_counter(), time.time(), **extra)  # type: ignore[arg-type]


StatusCallback = Callable[[str], None]


@runtime_checkable
class FrameSource(Protocol):
    """A stream of frames, opened and closed by the thread that reads it.

    ``live`` sources (cameras, streams, a paced synthetic line) produce frames whether or not anyone
    keeps up, so readers keep only the newest; recorded sources (files, folders) wait for the reader.
    ``read`` returns ``None`` at the end of a recorded source.
    """

    name: str
    live: bool

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def cancel(self) -> None:
        """Wake a ``read`` blocked on pacing or a reconnect; safe to call from any thread."""
        ...

    def close(self) -> None: ...


class FrameBuffers(Protocol):
    """Somewhere a source can capture a frame straight into (the compiled backend's shared frame
    pool), so the frame needs no copy later; ``acquire`` returns ``None`` when nothing is free."""

    def acquire(self, shape: tuple[int, ...]) -> np.ndarray | None: ...


@runtime_checkable
class PooledSource(Protocol):
    """A source that writes each frame straight into a ``frame_pool`` buffer when one is free."""

    frame_pool: FrameBuffers | None


def capture_into(source: FrameSource, pool: FrameBuffers) -> None:
    """Have ``source`` capture into ``pool`` where it can; frames of other sources are copied there."""
    if isinstance(source, PooledSource):
        source.frame_pool = pool
