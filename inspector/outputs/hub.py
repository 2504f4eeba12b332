"""The station's outputs: the one place the line reports to, fanning each change out to the links."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from sqlalchemy import Engine

from inspector.inspection.parts import PartVerdict
from inspector.outputs.config import OutputsConfig
from inspector.outputs.link import Link, LinkStatus
from inspector.outputs.messages import STOPPED, Counters, PartMessage, RunInfo, Update

RecipeCallback = Callable[[int], None]


class Outputs:
    """Keeps the station's state and the run's counters, and queues every change to each link.

    Called from the inspection thread (parts, state) and the GUI (state); each call costs a lock and
    one queue put per link. With no links it is a no-op that still knows the state.
    """

    def __init__(self, station: str, links: Sequence[Link] = ()) -> None:
        self.station = station
        self.links = tuple(links)
        self._lock = threading.Lock()
        self._state = STOPPED
        self._counters = Counters()
        self._run: RunInfo | None = None
        self._recipe = 0
        self._started = False

    def start(self) -> Outputs:
        for link in self.links:
            link.start()
        self._started = True
        self._send(self._update())
        return self

    @property
    def state(self) -> str:
        return self._state

    @property
    def counters(self) -> Counters:
        return self._counters

    def begin_run(self, run: int, model_sha256: str, class_ids: Mapping[str, int]) -> None:
        """A new run: its counters start at zero."""
        with self._lock:
            self._run = RunInfo(self.station, run, model_sha256, dict(class_ids))
            self._counters = Counters(run)
            self._send(self._update())

    def set_state(self, state: str) -> None:
        with self._lock:
            if state == self._state:
                return
            self._state = state
            self._send(self._update())

    def set_recipe(self, number: int) -> None:
        """The recipe now in force (its number; 0: none)."""
        with self._lock:
            if number != self._recipe:
                self._recipe = number
                self._send(self._update())

    def decided(self, parts: Iterable[PartVerdict], backend: str) -> None:
        """Parts whose verdict was just settled, each sent once with the counters after it."""
        with self._lock:
            if self._run is None:
                return
            for part in parts:
                self._counters = self._counters.add(part)
                self._send(self._update(PartMessage(self._run, part, backend)))

    def watch_trigger(self, on: bool) -> None:
        """Whether the PLC's trigger coil is watched (a line in triggered mode runs)."""
        for link in self.links:
            link.watch_trigger = on

    def statuses(self) -> list[LinkStatus]:
        return [link.status() for link in self.links]

    def close(self, timeout_s: float = 5.0) -> None:
        """Say the station stopped, then give each link ``timeout_s`` to deliver what it holds."""
        self.set_state(STOPPED)
        for link in self.links:
            link.stop()
        deadline = time.monotonic() + timeout_s
        for link in self.links:
            link.join(max(0.0, deadline - time.monotonic()))

    def _update(self, part: PartMessage | None = None) -> Update:
        return Update(self._state, self._counters, part, self._recipe)

    def _send(self, update: Update) -> None:
        if self._started:
            for link in self.links:
                link.put(update)


def build_outputs(
    config: OutputsConfig,
    db: Engine,
    on_recipe: RecipeCallback | None = None,
    on_trigger: Callable[[], None] | None = None,
) -> Outputs:
    """The links ``config`` names, started; each library is imported only when its link is asked
    for. ``on_recipe``: called (from the PLC link's thread) with a recipe number the PLC asks for;
    ``on_trigger``: called when the PLC raises its trigger coil."""
    links: list[Link] = []
    if config.plc is not None:
        from inspector.outputs.plc import PlcLink

        links.append(PlcLink(config.plc, on_recipe, on_trigger))
    if config.opcua is not None:
        from inspector.outputs.opcua import OpcUaLink

        links.append(OpcUaLink(config.opcua, config.station))
    if config.mqtt is not None:
        from inspector.outputs.mqtt import MqttLink
        from inspector.storage.outbox import Outbox

        links.append(MqttLink(config.mqtt, Outbox(db)))
    return Outputs(config.station, links).start()
