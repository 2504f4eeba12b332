"""A folder of still images, read in name order (a recorded source: nothing is dropped)."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2

from inspector.capture.base import Frame, SourceError, StatusCallback, make_frame

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


class ImageFolderSource:
    live = False

    def __init__(
        self, folder: str | Path, loop: bool = False, on_status: StatusCallback | None = None
    ) -> None:
        self.folder = Path(folder)
        self.name = f"folder {self.folder}"
        self.loop = loop
        self._on_status = on_status or (lambda message: None)
        self._paths: list[Path] = []
        self._position = 0
        self._index = 0
        self._cancelled = threading.Event()

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"image folder not found: {self.folder}")
        self._paths = sorted(
            p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not self._paths:
            raise SourceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {self.folder}")
        if not any(cv2.haveImageReader(str(p)) for p in self._paths):  # reads each file's header only
            raise SourceError(f"none of the {len(self._paths)} images in {self.folder} can be read")
        self._position = 0
        self._index = 0

    def cancel(self) -> None:
        self._cancelled.set()

    def read(self) -> Frame | None:
        while not self._cancelled.is_set():
            if self._position >= len(self._paths):
                if self._index == 0:
                    raise SourceError(f"none of the images in {self.folder} could be read")
                if not self.loop:
                    return None
                self._position = 0
            path = self._paths[self._position]
            self._position += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                self._on_status(f"skipped unreadable image {path.name}")
                continue
            frame = make_frame(image, self._index, image_path=str(path))
            self._index += 1
            return frame
        return None

    def close(self) -> None:
        self._paths = []
