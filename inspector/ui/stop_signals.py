"""A stop from outside (``kill``, a service manager, Ctrl+C in the terminal) closes the window as the operator
would: the line stops, the writer commits what it holds, the run is closed and the line remembered.

Python runs a signal's handler only between bytecodes of the main thread, and the GUI thread can sit
in Qt's event loop for as long as nothing happens; so the signal's number is also written into a
socket (``signal.set_wakeup_fd``) that the event loop watches, and the loop wakes at once."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
from collections.abc import Iterator
from types import FrameType

from PySide6.QtCore import QSocketNotifier
from PySide6.QtWidgets import QApplication, QWidget

from inspector.stop_signals import stop_signals_handled


@contextlib.contextmanager
def close_on_stop_signals(window: QWidget) -> Iterator[None]:
    """Within the block, the first stop signal closes ``window`` from the event loop; later ones
    are ignored while it closes."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    received: list[str] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)

    def wake() -> None:
        with contextlib.suppress(BlockingIOError):
            reader.recv(64)
        if received and window.isVisible():
            with contextlib.suppress(OSError):  # after a SIGHUP the terminal may be gone
                print(f"stopped by {received[0]}; closing the station", file=sys.stderr)
            # a dialog open over the window (a file picker, say) would keep its caller waiting, and
            # its answer could start a line on the closed window: it returns as cancelled first
            for _ in range(8):  # dialogs over dialogs, but never forever
                if (dialog := QApplication.activeModalWidget()) is None:
                    break
                dialog.close()
            window.close()

    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)
    notifier.activated.connect(wake)
    before = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    try:
        with stop_signals_handled(note):
            yield
    finally:
        signal.set_wakeup_fd(before)
        notifier.setEnabled(False)
        reader.close()
        writer.close()
