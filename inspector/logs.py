"""The log file: tracebacks and library noise go there, one line goes to the operator.

A rotating file in the user's log folder, so a failure in any thread leaves its traceback behind
and a station that runs for months never fills the disk with its log.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from platformdirs import user_log_path

FORMAT = "%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"
MAX_BYTES = 5 * 2**20
BACKUPS = 3


def log_path() -> Path:
    """``~/.local/state/inspector/log/inspector.log`` on Linux, ``%LOCALAPPDATA%\\inspector\\Logs``
    on Windows."""
    return user_log_path("inspector", appauthor=False) / "inspector.log"


def setup_logging(path: Path | None = None, level: int = logging.INFO) -> Path | None:
    """Send the root logger and Python's warnings (torch's among them) to the log file; returns its
    path, or ``None`` when the folder cannot be written (the program runs on without a log)."""
    path = path or log_path()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "inspector_log", False):
            root.removeHandler(handler)
            handler.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError:
        return None
    handler.inspector_log = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # it tells of itself at every open
    logging.captureWarnings(True)
    return path
