"""How long each kind of compile took here the last time, so the next one can say when it will be
done: within Inductor's kernel stage, the longest, the stages themselves tell nothing.

A kind is the model, frame size, batch, input size, mode, precision and device (not the code or the
library versions: an upgrade's first compile still gets an estimate). A compile loaded from the
on-disk cache and one built afresh take seconds against minutes, so each is remembered apart. The
file is a nicety: unreadable, it is as if empty; unwritable, the compile goes on without it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "compile-durations.json"


def _entry(kind: str, warm: bool) -> str:
    return f"{kind} {'warm' if warm else 'cold'}"


class CompileDurations:
    """The last duration of each kind of compile, in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME

    def last(self, kind: str, warm: bool) -> float | None:
        """Seconds the last compile of ``kind`` took (``warm``: loaded from the cache), or ``None``."""
        value = self._read().get(_entry(kind, warm))
        return float(value) if isinstance(value, int | float) and value > 0 else None

    def record(self, kind: str, warm: bool, seconds: float) -> None:
        """Remember a finished compile's duration (written whole, so a reader never sees half)."""
        durations = self._read()
        durations[_entry(kind, warm)] = round(seconds, 2)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".durations-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(durations, out, indent=0, sort_keys=True)
            os.replace(temp, self.path)
        except OSError as exc:
            log.warning("cannot keep the compile's duration in %s: %s", self.path, exc)

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log.warning("ignoring the unreadable compile durations in %s: %s", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}
