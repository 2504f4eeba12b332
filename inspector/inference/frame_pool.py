"""Frames captured straight into shared memory, where the compiled worker process reads them.

Handing a 1080p frame to the compiled backend's worker otherwise costs a 6 MB copy into shared
memory, 0.6-1.1 ms on an H100 host: more than the compiled network itself. A source that decodes or
renders into a slot of this pool hands over an index instead. A slot is reused only once no array
views it any more, so a frame that the live view, the log or a queue still holds is never
overwritten.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import torch


class _SlotOwner:
    """The one object every array of an acquired slot leads back to: when it dies, the slot is free."""

    def __init__(self, view: np.ndarray) -> None:
        self.view = view
        self.__array_interface__ = view.__array_interface__


class FramePool:
    """``slots`` frames of one size in shared memory; empty until the compiled backend ``allocate``s it.

    The first ``reserved`` rows are the backend's own: frames from anywhere else are copied there.
    ``acquire`` (any thread) returns a writable frame in a free slot, or ``None`` when the pool is
    empty, of another size, or every slot is still in use: the source then captures as usual.
    """

    def __init__(self, slots: int = 6) -> None:
        self.slots = slots
        self.frames: torch.Tensor | None = None  # (reserved + slots, h, w, 3) uint8, shared
        self.reserved = 0
        self._array: np.ndarray | None = None
        self._free: list[int] = []
        self._generation = 0
        self._lock = threading.Lock()

    def allocate(self, shape: tuple[int, int], reserved: int) -> torch.Tensor:
        """Shared rows for frames of ``shape`` (h, w); slots still held from before stay valid."""
        frames = torch.empty((reserved + self.slots, *shape, 3), dtype=torch.uint8).share_memory_()
        with self._lock:
            self._generation += 1
            self.frames, self.reserved, self._array = frames, reserved, frames.numpy()
            self._free = list(range(reserved, reserved + self.slots))
        return frames

    def clear(self) -> None:
        """Hand out no more slots; the memory goes once the last frame in it does."""
        with self._lock:
            self._generation += 1
            self.frames = self._array = None
            self._free = []

    def acquire(self, shape: tuple[int, ...]) -> np.ndarray | None:
        with self._lock:
            if self._array is None or not self._free or self._array.shape[1:] != shape:
                return None
            index = self._free.pop()
            owner = _SlotOwner(self._array[index])
            generation = self._generation
        frame = np.asarray(owner)
        weakref.finalize(frame, self._release, index, generation)
        return frame

    def index_of(self, image: np.ndarray) -> int | None:
        """The row ``image`` is, exactly (whole and contiguous), or ``None``."""
        with self._lock:
            array = self._array
        if array is None or image.shape != array.shape[1:] or not image.flags.c_contiguous:
            return None
        offset = image.__array_interface__["data"][0] - array.__array_interface__["data"][0]
        row = array[0].nbytes
        if offset < 0 or offset % row or offset // row >= len(array):
            return None
        return offset // row

    def _release(self, index: int, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._free.append(index)
