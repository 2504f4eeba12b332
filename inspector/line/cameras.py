"""A line's cameras: each one a source, optionally named (``top=rtsp://10.0.0.5/stream``)."""

from __future__ import annotations

import re
from pathlib import Path

from inspector.errors import ConfigError

MAX_CAMERAS = 128  # one batch of the compiled backend takes a frame of each
_NAME = re.compile(r"[A-Za-z][\w-]{0,31}")


def named_sources(specs: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, source spec) per camera: ``name=spec`` names one, the rest are ``cam1``, ``cam2``...
    by their place. A path that exists is taken as it is, ``=`` and all."""
    if not specs:
        raise ConfigError("a line needs at least one camera")
    if len(specs) > MAX_CAMERAS:
        raise ConfigError(f"{len(specs)} cameras: a line takes at most {MAX_CAMERAS}")
    cameras = []
    for place, text in enumerate(specs, 1):
        name, sep, spec = text.strip().partition("=")
        if not (sep and _NAME.fullmatch(name) and not Path(text).expanduser().exists()):
            name, spec = f"cam{place}", text.strip()
        if not spec:
            raise ConfigError(f"camera {name} has no source")
        cameras.append((name, spec))
    seen: set[str] = set()
    for name, _ in cameras:
        if name in seen:
            raise ConfigError(f"two cameras are named {name}: name each camera once")
        seen.add(name)
    return cameras


def read_sources(path: Path) -> tuple[str, ...]:
    """A file of cameras, one ``[name=]source`` per line; blank lines and ``#`` comments are skipped."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot read the sources file {path}: {reason}") from exc
    lines = (re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip() for line in text.splitlines())
    specs = tuple(line for line in lines if line)
    if not specs:
        raise ConfigError(f"the sources file {path} names no camera")
    return specs
