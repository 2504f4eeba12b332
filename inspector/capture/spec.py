"""Turning the operator's ``--source`` text into a frame source."""

from __future__ import annotations

from pathlib import Path

from inspector.capture.base import FrameSource, SourceError, StatusCallback
from inspector.capture.folder import ImageFolderSource
from inspector.capture.opencv import CameraSource, VideoFileSource
from inspector.capture.synthetic import SyntheticConveyor

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv"})
STREAM_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")

SOURCE_HELP = (
    "synthetic[:key=value,...] (keys: seed, fps, width, height, speed, defect_rate), "
    "a camera index (0, 1, ...), an rtsp:// or http(s):// URL, a video file, or a folder of images"
)


def open_source(
    spec: str,
    *,
    seed: int = 0,
    loop: bool = False,
    on_status: StatusCallback | None = None,
) -> FrameSource:
    """Build (not open) the source that ``spec`` names; a source opens in the thread that reads it."""
    text = spec.strip()
    if text == "synthetic" or text.startswith("synthetic:"):
        try:
            return SyntheticConveyor(**_synthetic_options(text.partition(":")[2], seed))
        except ValueError as exc:
            raise SourceError(str(exc)) from exc
    if text.isdigit():
        return CameraSource(int(text), on_status=on_status)
    if text.lower().startswith(STREAM_PREFIXES):
        return CameraSource(text, on_status=on_status)
    path = Path(text).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, loop=loop, on_status=on_status)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        if not path.is_file():
            raise SourceError(f"video file not found: {path}")
        return VideoFileSource(path, loop=loop)
    if path.exists():
        raise SourceError(f"{path}: not a video file ({', '.join(sorted(VIDEO_SUFFIXES))}) or folder")
    raise SourceError(f"unknown source {spec!r}: use {SOURCE_HELP}")


def _synthetic_options(text: str, seed: int) -> dict[str, float | int]:
    kinds = {
        "seed": int,
        "fps": float,
        "width": int,
        "height": int,
        "speed": float,
        "defect_rate": float,
        "frames": int,
    }
    options: dict[str, float | int] = {"seed": seed}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in kinds:
            raise SourceError(f"unknown synthetic option {key!r}: use {', '.join(kinds)}")
        try:
            options[key] = kinds[key](value)
        except ValueError as exc:
            raise SourceError(f"synthetic option {key}={value!r} is not a number") from exc
    return options
