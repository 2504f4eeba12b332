"""One connection to the plant, served by its own thread: the line only ever queues an update.

A link that is down, slow or retrying costs the inspection loop one ``queue.put`` per change; what
it does about the backlog (drop a reject that is too late, keep a message in the outbox) is the
link's own policy.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from inspector.metrics import LatencyTracker

log = logging.getLogger(__name__)

CONNECTING, CONNECTED, RETRYING, OFF = "connecting", "connected", "retrying", "off"


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """What the Outputs panel shows for one link. ``sent``/``queued``/``failed`` count what the link
    delivers (reject pulses to a PLC, part messages to a broker, events to OPC UA clients)."""

    name: str
    target: str
    state: str
    sent: int
    queued: int
    failed: int
    detail: str = ""


class Link:
    """Base of every link: a daemon thread, its inbox and its counts. Subclasses implement ``_serve``
    and read the inbox with ``_take``."""

    name = "link"
    watch_trigger = False  # a link that can trigger inspections (the PLC's) watches while this is set

    def __init__(self, target: str) -> None:
        self.target = target  # shown to the operator: never holds a secret
        self.latency = LatencyTracker(maxlen=10_000)  # ms from a part's verdict to its delivery
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._state = CONNECTING
        self._detail = ""
        self.sent = self.failed = 0
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve_logged, name=f"output {self.name}", daemon=True)

    def start(self) -> Link:
        self._thread.start()
        return self

    def put(self, item: object) -> None:
        """Queue an update (or a link's own event); never blocks."""
        self._inbox.put(item)

    def stop(self) -> None:
        """Ask the link to finish what it can and end; ``join`` waits for it."""
        self._closing.set()
        self._inbox.put(None)

    def join(self, timeout_s: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def status(self) -> LinkStatus:
        with self._lock:
            return LinkStatus(
                self.name, self.target, self._state, self.sent, self.queued(), self.failed, self._detail
            )

    def queued(self) -> int:
        """Deliveries waiting (the base: none)."""
        return 0

    def _set(self, state: str, detail: str) -> None:
        with self._lock:
            changed = state != self._state
            self._state, self._detail = state, detail
        if changed:
            level = logging.WARNING if state == RETRYING else logging.INFO
            log.log(level, "%s %s: %s%s", self.name, self.target, state, f" ({detail})" if detail else "")

    def _take(self, timeout_s: float | None) -> tuple[list[object], bool]:
        """Whatever arrived, waiting up to ``timeout_s`` for the first item, and whether these are
        the last items: ``stop`` was called before they were drained, so nothing more will come."""
        last = self._closing.is_set()
        items: list[object] = []
        try:
            items.append(self._inbox.get(timeout=None if timeout_s is None else max(0.0, timeout_s)))
            while True:
                items.append(self._inbox.get_nowait())
        except queue.Empty:
            pass
        return [item for item in items if item is not None], last or None in items

    def _serve_logged(self) -> None:
        try:
            self._serve()
        except Exception as exc:  # a bug: said once, the link marked off, the line unharmed
            log.exception("%s link stopped", self.name)
            self._set(OFF, f"stopped: {type(exc).__name__}: {exc}")

    def _serve(self) -> None:
        raise NotImplementedError
