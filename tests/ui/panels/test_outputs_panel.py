"""The Plant links panel says what each link is doing, and that nothing is sent when none is given."""

from __future__ import annotations

from inspector.lab.loopback_plc import LoopbackPlc, free_port
from inspector.outputs.config import PlcConfig
from inspector.outputs.hub import Outputs
from inspector.outputs.plc import PlcLink
from inspector.ui.panels.outputs_panel import OutputsPanel


def test_with_no_link_the_panel_says_nothing_is_sent(qtbot):
    panel = OutputsPanel(Outputs("st1").start())
    qtbot.addWidget(panel)
    assert "nothing is sent" in panel.findChildren(type(panel.state))[-1].text()
    assert panel.state.isHidden() and panel.summary() == "none"


def test_a_link_is_shown_retrying_with_its_reason_then_connected(qtbot):
    port = free_port()
    outputs = Outputs("st1", [PlcLink(PlcConfig.parse(f"modbus://127.0.0.1:{port}"))]).start()
    panel = OutputsPanel(outputs)
    qtbot.addWidget(panel)
    ((name, counts),) = panel._rows
    qtbot.waitUntil(lambda: (panel.refresh(), "retrying" in name.text())[1], timeout=5000)
    assert f"no answer from 127.0.0.1:{port}" in counts.text() and panel.summary() == "1 of 1 not connected"
    plc = LoopbackPlc(port).start()
    try:
        qtbot.waitUntil(lambda: (panel.refresh(), "connected" in name.text())[1], timeout=10000)
        assert counts.text() == "rejects: 0 sent · 0 queued · 0 failed"
        assert panel.state.text() == "station state sent: <b>stopped</b>"
        assert panel.summary() == "all connected"
    finally:
        outputs.close()
        plc.stop()
