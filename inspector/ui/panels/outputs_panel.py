"""The plant links: whether each is connected, and what it sent, holds and failed to send."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel

from inspector.outputs.hub import Outputs
from inspector.outputs.link import CONNECTED, CONNECTING, OFF, RETRYING, LinkStatus

STATE_COLOURS = {CONNECTED: "#2CA02C", CONNECTING: "#E08A00", RETRYING: "#E08A00", OFF: "#7F7F7F"}
WHAT = {"PLC": "rejects", "MQTT": "messages", "OPC UA": "events"}


class OutputsPanel(QGroupBox):
    """One row per link; ``refresh`` reads their statuses (cheap: a lock each)."""

    def __init__(self, outputs: Outputs) -> None:
        super().__init__("Plant links")
        self.outputs = outputs
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 6)
        self.state = QLabel()
        grid.addWidget(self.state, 0, 0, 1, 2)
        self._rows: list[tuple[QLabel, QLabel]] = []
        if not outputs.links:
            none = QLabel("none: nothing is sent (see --plc, --mqtt, --opcua)")
            none.setStyleSheet("color:#7F7F7F;")
            grid.addWidget(none, 1, 0, 1, 2)
        for i, link in enumerate(outputs.links, start=1):
            name, counts = QLabel(), QLabel()
            name.setWordWrap(True)  # a long MQTT topic wraps rather than being cut
            counts.setWordWrap(True)
            grid.addWidget(name, 2 * i - 1, 0, 1, 2)
            grid.addWidget(counts, 2 * i, 0, 1, 2)
            name.setToolTip(link.target)
            self._rows.append((name, counts))
        self.refresh()

    def refresh(self) -> None:
        self.state.setText(f"station state sent: <b>{self.outputs.state}</b>")
        self.state.setVisible(bool(self.outputs.links))
        for (name, counts), status in zip(self._rows, self.outputs.statuses(), strict=True):
            name.setText(_headline(status))
            counts.setText(_counts(status))

    def summary(self) -> str:
        """The links in a few words, for a tab that hides the panel: "none", "all connected", or
        how many are not."""
        states = [s.state for s in self.outputs.statuses()]
        if not states:
            return "none"
        down = sum(state != CONNECTED for state in states)
        return "all connected" if not down else f"{down} of {len(states)} not connected"


def _headline(s: LinkStatus) -> str:
    colour = STATE_COLOURS.get(s.state, "#7F7F7F")
    return f'<span style="color:{colour};">●</span> <b>{s.name}</b> {s.state} · {s.target}'


def _counts(s: LinkStatus) -> str:
    what = WHAT.get(s.name, "sent")
    text = f"{what}: {s.sent} sent · {s.queued} queued · {s.failed} failed"
    if s.detail and s.state != CONNECTED:
        text += f"<br><span style='color:#E08A00;'>{s.detail}</span>"
    return text
