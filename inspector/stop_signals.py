"""The signals that ask the station to stop from outside: Ctrl+C, ``kill``, a closed terminal or a
service manager stopping it. Each is taken as the operator's own stop (the line stops, the writer
commits what it holds, the run is closed with its frame count), not the instant death that is the
default for all but Ctrl+C."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

Handler = Callable[[int, FrameType | None], object]


@contextlib.contextmanager
def stop_signals_handled(handler: Handler) -> Iterator[None]:
    """Within the block, every stop signal calls ``handler``; the handlers before are put back after.
    Main thread only, as Python's signal handlers are."""
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Within the block, the first stop signal raises ``KeyboardInterrupt`` in the main thread, as
    Ctrl+C does; later ones are ignored, so that a second ``kill`` cannot cut the run's closing short."""
    raised = False

    def interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise KeyboardInterrupt(signal.Signals(signum).name)

    with stop_signals_handled(interrupt):
        yield


def ignore_stop_signals() -> None:
    """For a helper process whose life its parent manages: a Ctrl+C in the terminal reaches every
    process of the group, and a service manager's stop may too, but only the parent decides when
    the helper ends (and the helper ends by itself when the parent is gone)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
