"""Cameras, video files and network streams, all read through OpenCV's ``VideoCapture``."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2

from inspector.capture.base import Frame, FrameBuffers, SourceError, StatusCallback, make_frame


def _silence_opencv_log() -> None:
    """OpenCV's own log writes pages to the terminal for a camera that is not there; the station
    says what failed in one line of its own (and the log). OpenCV 4 names the call
    ``cv2.setLogLevel``, OpenCV 5 ``cv2.utils.logging.setLogLevel``; level 0 is silent in both."""
    opencv_logging = getattr(cv2.utils, "logging", None)
    (opencv_logging.setLogLevel if opencv_logging else cv2.setLogLevel)(0)


_silence_opencv_log()


class _VideoCaptureSource:
    live = True

    def __init__(self, target: int | str, name: str, on_status: StatusCallback | None) -> None:
        self._target = target
        self.name = name
        self._on_status = on_status or (lambda message: None)
        self._cap: cv2.VideoCapture | None = None
        self._index = 0
        self._cancelled = threading.Event()
        self.frame_pool: FrameBuffers | None = None
        self._shape: tuple[int, ...] | None = None  # the last frame's, to find a pool slot for the next
        self.reconnecting = False  # a lost camera or stream is being reopened

    def _open_capture(self) -> cv2.VideoCapture | None:
        cap = cv2.VideoCapture(self._target)
        if cap.isOpened():
            return cap
        cap.release()
        return None

    def open(self) -> None:
        self._cancelled.clear()
        self._cap = self._open_capture()
        if self._cap is None:
            raise SourceError(f"cannot open {self.name}")
        self._index = 0

    def cancel(self) -> None:
        """Wake a read that waits for a reconnect, from any thread."""
        self._cancelled.set()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _grab(self) -> Frame | None:
        assert self._cap is not None, "read() before open()"
        slot = self.frame_pool.acquire(self._shape) if self.frame_pool and self._shape else None
        ok, image = self._cap.read() if slot is None else self._cap.read(slot)  # decoded into the slot
        if not ok or image is None:
            return None
        self._shape = image.shape
        frame = make_frame(image, self._index)
        self._index += 1
        return frame


class CameraSource(_VideoCaptureSource):
    """A local camera by index, or a network stream (RTSP/HTTP).

    A camera or stream that stops delivering is reopened with exponential backoff; each attempt
    is reported through ``on_status``; after ``reconnect_attempts`` failures the read gives up
    with a ``SourceError``.
    """

    def __init__(
        self,
        target: int | str,
        on_status: StatusCallback | None = None,
        reconnect_attempts: int = 8,
        first_backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
    ) -> None:
        name = f"camera {target}" if isinstance(target, int) else f"stream {target}"
        super().__init__(target, name, on_status)
        self.reconnect_attempts = reconnect_attempts
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s

    def read(self) -> Frame | None:
        frame = self._grab() if self._cap is not None else None
        if frame is not None:
            return frame
        self.reconnecting = True
        try:
            return self._reconnect()
        finally:
            self.reconnecting = False

    def _reconnect(self) -> Frame | None:
        delay = self.first_backoff_s
        for attempt in range(1, self.reconnect_attempts + 1):
            self._on_status(
                f"{self.name} lost; reconnecting in {delay:.1f} s "
                f"(attempt {attempt} of {self.reconnect_attempts})"
            )
            self.close()
            if self._cancelled.wait(delay):
                return None
            self._cap = self._open_capture()
            frame = self._grab() if self._cap is not None else None
            if frame is not None:
                self._on_status(f"{self.name} reconnected")
                return frame
            delay = min(delay * 2, self.max_backoff_s)
        raise SourceError(f"{self.name} lost: no frame after {self.reconnect_attempts} reconnects")


class VideoFileSource(_VideoCaptureSource):
    """A recorded video: every frame is processed; at its end the run stops, or it loops."""

    live = False

    def __init__(self, path: str | Path, loop: bool = False) -> None:
        path = Path(path)
        super().__init__(str(path), f"video {path.name}", None)
        self.path = path
        self.loop = loop

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        super().open()
        assert self._cap is not None
        decodable = self._cap.grab()
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        if not decodable:
            self.close()
            raise SourceError(f"cannot decode video {self.path}: no frame could be read")

    def read(self) -> Frame | None:
        frame = self._grab()
        if frame is None and self.loop and self._index > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # type: ignore[union-attr]
            frame = self._grab()
        return frame
