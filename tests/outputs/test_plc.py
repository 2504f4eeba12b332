"""The PLC link against pymodbus's own server on loopback: reject pulses, registers, outages."""

from __future__ import annotations

import threading
import time

from pymodbus.client import ModbusTcpClient

from inspector.line.config import LineConfig
from inspector.line.station import Station
from inspector.outputs.config import OutputsConfig, PlcConfig
from inspector.outputs.hub import Outputs
from inspector.outputs.link import CONNECTED, RETRYING
from inspector.outputs.messages import STATE_CODES
from inspector.outputs.plc import BLOCK, WRITTEN, PlcLink
from inspector.paths import demo_model_path

from .conftest import CLASS_IDS, part, wait_for


def outputs_to(plc, **options) -> tuple[Outputs, PlcLink]:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    link = PlcLink(PlcConfig.parse(plc.url + ("&" + query if query else "")))
    outputs = Outputs("test", [link]).start()
    outputs.begin_run(7, "ab" * 32, CLASS_IDS)
    outputs.set_state("running")
    return outputs, link


def u32(regs: list[int], at: int) -> int:
    return regs[at] << 16 | regs[at + 1]


def test_each_ng_part_is_one_pulse_with_its_id_and_defect_mask_and_ok_parts_none(plc):
    outputs, link = outputs_to(plc, pulse_ms=40, coil=3, registers=100)
    parts = [part(1), part(2, "dent", "crack"), part(3, "scratch"), part(4), part(5, "stain")]
    outputs.decided(parts, "eager")
    wait_for(lambda: link.status().sent == 3 and plc.coil_writes(3)[-1].values == (0,), what="3 pulses")
    outputs.close()
    assert plc.pulses(3) == 3
    pulses_on = [w for w in plc.coil_writes(3) if w.values == (1,)]
    # while each pulse is on, the registers name the rejected part and its defects
    shown = []
    for on in pulses_on:
        before = [w for w in plc.register_writes() if w.at < on.at][-1]
        assert before.address == 100 and len(before.values) == WRITTEN
        shown.append((u32(list(before.values), 10), before.values[12], u32(list(before.values), 13)))
    assert shown == [(2, 2, 0b1010), (3, 2, 0b0001), (5, 2, 0b0100)]
    offs = [w.at for w in plc.coil_writes(3) if w.values == (0,)][1:]  # the first is the reset on connect
    assert all(off - on.at >= 0.035 for on, off in zip(pulses_on, offs, strict=True))
    assert all(b.at - a >= 0.035 for a, b in zip(offs, pulses_on[1:], strict=False)), "a gap between pulses"
    regs = plc.registers_now(100, BLOCK)
    assert regs[1] == STATE_CODES["stopped"] and u32(regs, 2) == 7
    assert (u32(regs, 4), u32(regs, 6), u32(regs, 8)) == (5, 2, 3)
    assert u32(regs, 10) == 5 and regs[15] == 5


def test_the_heartbeat_moves_every_second(plc):
    outputs, _ = outputs_to(plc)
    wait_for(lambda: len({w.values[0] for w in plc.register_writes()}) >= 3, 5, "three heartbeats")
    outputs.close()
    beats = [w.values[0] for w in plc.register_writes()]
    assert beats == sorted(beats) and beats[-1] - beats[0] >= 2


def test_a_reject_the_plc_cannot_take_in_time_is_dropped_not_sent_late(plc):
    outputs, link = outputs_to(plc, pulse_ms=20, deadline_ms=300)
    wait_for(lambda: link.status().state == CONNECTED)
    plc.stop()
    outputs.decided([part(1, "dent")], "eager")  # the PLC is gone: the part passes the ejector
    wait_for(lambda: link.status().failed == 1, 5, "the late reject counted as failed")
    assert link.status().state == RETRYING
    plc.start()
    wait_for(lambda: link.status().state == CONNECTED, 10, "reconnected")
    outputs.decided([part(2, "dent")], "eager")
    wait_for(lambda: link.status().sent == 1, 5, "the next reject sent")
    outputs.close()
    assert plc.pulses(0) == 1
    regs = plc.registers_now(0, BLOCK)
    assert (u32(regs, 4), u32(regs, 8)) == (2, 2), "the counters are right again after the outage"


def test_a_plc_that_refuses_the_registers_is_retried_and_said(plc):
    outputs, link = outputs_to(plc, registers=65000)  # beyond the loopback PLC's 256 registers
    wait_for(lambda: "refused" in link.status().detail, 5, "the refusal shown")
    outputs.close()
    assert link.status().state == RETRYING


def test_a_line_sends_one_pulse_per_ng_part_and_counters_equal_to_its_summary_through_a_plc_outage(
    plc, db_path
):
    plant = OutputsConfig.parse("test", plc.url + "&pulse_ms=30", None, None)
    station = Station(db_path, outputs=plant)
    weights = str(demo_model_path())
    config = LineConfig(source="synthetic:fps=15", weights=weights, device="cpu", imgsz=320, seed=3)
    line = station.build_line(config)
    runner = threading.Thread(target=line.run)
    runner.start()
    (link,) = station.outputs.links
    try:
        wait_for(lambda: line.stats.parts >= 2, 120, "two parts decided")
        plc.stop()
        wait_for(lambda: link.status().state == RETRYING, 10, "the link retrying")
        before = line.frames
        time.sleep(3)
        assert line.frames - before >= 15, "the line kept inspecting while the PLC was down"
        plc.start()
        wait_for(lambda: link.status().state == CONNECTED, 15, "reconnected")
        wait_for(lambda: line.stats.parts >= 8, 180, "eight parts decided")
    finally:
        line.stop()
        runner.join(30)
    line.close()
    station.close()
    stats, status = line.stats, link.status()
    assert stats.parts_ng > 0 and stats.parts_ok > 0
    assert status.sent + status.failed == stats.parts_ng
    # a pulse whose answer was lost as the PLC went away may still have reached it: counted failed
    assert status.sent <= plc.pulses(0) <= status.sent + status.failed
    regs = plc.registers_now(0, BLOCK)
    assert (u32(regs, 4), u32(regs, 6), u32(regs, 8)) == (stats.parts, stats.parts_ok, stats.parts_ng)
    assert u32(regs, 2) == line.run_id and regs[1] == STATE_CODES["stopped"]


def test_in_triggered_mode_each_raised_trigger_coil_is_taken_and_judged_as_one_part(plc, db_path):
    plant = OutputsConfig.parse("test", plc.url + "&pulse_ms=20&trigger=5", None, None)
    station = Station(db_path, outputs=plant)
    weights = str(demo_model_path())
    config = LineConfig(source="synthetic:fps=15", weights=weights, device="cpu", imgsz=320, trigger=True)
    line = station.build_line(config)
    runner = threading.Thread(target=line.run)
    runner.start()
    plc_side = ModbusTcpClient("127.0.0.1", port=plc.port)
    plc_side.connect()
    try:
        wait_for(lambda: line.stats.captured.rate() > 0, 60, "frames coming")
        time.sleep(1.0)
        assert line.frames == 0, "no trigger, no inspection"
        for n in (1, 2, 3):
            plc_side.write_coil(5, True, device_id=1)
            wait_for(lambda n=n: line.stats.parts == n, 20, f"part {n} judged")
            assert not plc_side.read_coils(5, count=1, device_id=1).bits[0], "the trigger was taken"
    finally:
        plc_side.close()
        line.stop()
        runner.join(30)
    line.close()
    station.close()
    assert line.frames == 3 and line.stats.parts == 3
    regs = plc.registers_now(0, BLOCK)
    assert u32(regs, 4) == 3 and u32(regs, 10) == 3, "each trigger is one part, numbered in the run"
    assert plc.pulses(0) == line.stats.parts_ng
