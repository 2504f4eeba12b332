"""What telling the plant costs: the time from a part's verdict to the reject coil acknowledged by a
loopback PLC (and to the broker's acknowledgement of its MQTT message), and the line's own frame
times with every link on against none."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from inspector.inference.devices import resolve_device
from inspector.inspection.parts import NG, PartDefect, PartVerdict
from inspector.lab.loopback_broker import LoopbackBroker, mosquitto
from inspector.lab.loopback_plc import free_port
from inspector.line.config import LineConfig
from inspector.line.station import Station
from inspector.outputs.config import MqttConfig, OpcUaConfig, OutputsConfig, PlcConfig
from inspector.outputs.hub import build_outputs
from inspector.outputs.link import Link
from inspector.storage.database import open_database

CLASS_IDS = {"scratch": 0, "dent": 1, "stain": 2, "crack": 3}


class PlcProcess:
    """The loopback PLC in a process of its own, as a real PLC is a machine of its own."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"modbus://127.0.0.1:{self.port}?unit=1"
        command = [sys.executable, "-m", "inspector.lab.loopback_plc", str(self.port)]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.proc.stdout.readline()  # it says so once it listens

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def _ng_part(n: int) -> PartVerdict:
    dent = PartDefect("dent", 0.9, (10.0, 10.0, 20.0, 20.0), n, 5, n, n + 4)
    return PartVerdict(n, "plate", NG, n, n + 30, (0.0, 0.0, 100.0, 100.0), n + 15, (dent,))


def _percentiles(link: Link, stage: str) -> dict[str, float]:
    return {k: round(v, 3) for k, v in link.latency.percentiles(stage, (50, 95, 99)).items()}


def measure_verdict_latency(parts: int, spacing_s: float, folder: Path) -> dict[str, Any]:
    """``parts`` NG parts, one every ``spacing_s``, through the PLC link (and MQTT, where mosquitto
    is installed): milliseconds from each verdict to its reject coil, and to its broker's ack."""
    plc = PlcProcess()
    broker = LoopbackBroker(folder).start() if mosquitto() else None
    config = OutputsConfig(
        "bench",
        plc=PlcConfig.parse(plc.url + "&pulse_ms=10&deadline_ms=5000"),
        mqtt=MqttConfig.parse(broker.url + "/bench", "bench") if broker else None,
    )
    outputs = build_outputs(config, open_database(folder / "outbox.sqlite"))
    try:
        outputs.begin_run(1, "0" * 64, CLASS_IDS)
        links = {link.name: link for link in outputs.links}
        _wait(lambda: all(s.state == "connected" for s in outputs.statuses()), 15)
        for n in range(1, parts + 1):
            outputs.decided([_ng_part(n)], "eager")
            time.sleep(spacing_s)
        _wait(lambda: all(s.sent >= parts for s in outputs.statuses()), 30)
        report: dict[str, Any] = {"parts": parts, "spacing_ms": spacing_s * 1000}
        report["verdict_to_coil_ms"] = _percentiles(links["PLC"], "reject")
        if "MQTT" in links:
            report["verdict_to_broker_ack_ms"] = _percentiles(links["MQTT"], "acked")
        return report
    finally:
        outputs.close()
        plc.stop()
        if broker:
            broker.stop()


def measure_loop(
    frames: int, rounds: int, device: str, weights: str, imgsz: int, folder: Path
) -> dict[str, Any]:
    """The line's capture-to-result times over ``frames`` frames: with no link, with each link
    alone, and with all three (MQTT where mosquitto is installed), in alternating rounds."""
    plc = PlcProcess()
    broker = LoopbackBroker(folder).start() if mosquitto() else None
    links = {
        "plc": PlcConfig.parse(plc.url + "&pulse_ms=10"),
        "opcua": OpcUaConfig.parse(f"opc.tcp://127.0.0.1:{free_port()}"),
        "mqtt": MqttConfig.parse(broker.url + "/bench", "bench") if broker else None,
    }
    settings = {"off": OutputsConfig("bench")}
    for key, label in (("plc", "PLC"), ("opcua", "OPC UA"), ("mqtt", "MQTT")):
        if links[key] is not None:
            settings[label] = OutputsConfig("bench", **{key: links[key]})
    settings["all"] = OutputsConfig("bench", **links)
    backend = "compiled" if resolve_device(device).type == "cuda" else "eager"  # as a line would run
    config = LineConfig(
        source="synthetic:fps=0",
        weights=weights,
        device=device,
        imgsz=imgsz,
        save_images=False,
        backend=backend,
    )
    totals: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    parts = dict.fromkeys(settings, 0)
    try:
        for r in range(rounds):
            for i, (name, plant) in enumerate(settings.items()):
                station = Station(folder / f"{r}-{i}.sqlite", outputs=plant)
                try:
                    _wait(lambda s=station: all(x.state == "connected" for x in s.outputs.statuses()), 15)
                    line = station.build_line(config, wait_for_compile=True)
                    line.run(frames)
                    line.close()
                    totals[name].append(line.stats.latency.percentiles("total", (50, 95, 99)))
                    parts[name] += line.stats.parts
                finally:
                    station.close()
    finally:
        plc.stop()
        if broker:
            broker.stop()
    return {
        "frames": frames,
        "rounds": rounds,
        "backend": backend,
        "parts": parts,
        "total_ms": {
            name: {q: round(sum(p[q] for p in runs) / len(runs), 3) for q in ("p50", "p95", "p99")}
            for name, runs in totals.items()
        },
    }


def measure_outputs(parts: int, frames: int, device: str, weights: str, imgsz: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="inspector-outputs-bench-") as tmp:
        folder = Path(tmp)
        (folder / "latency").mkdir()
        (folder / "loop").mkdir()
        return {
            "latency": measure_verdict_latency(parts, 0.03, folder / "latency"),
            "loop": measure_loop(frames, 2, device, weights, imgsz, folder / "loop"),
        }


def format_outputs(report: dict[str, Any]) -> str:
    lat, loop = report["latency"], report["loop"]
    lines = [f"plant links, {lat['parts']} NG parts one every {lat['spacing_ms']:.0f} ms:"]
    for key, label in (
        ("verdict_to_coil_ms", "verdict -> reject coil acknowledged (Modbus TCP)"),
        ("verdict_to_broker_ack_ms", "verdict -> MQTT broker acknowledged (QoS 1)"),
    ):
        if key in lat:
            p = lat[key]
            lines.append(f"  {label}: p50 {p['p50']:.2f} ms, p95 {p['p95']:.2f} ms, p99 {p['p99']:.2f} ms")
    lines.append(
        f"line capture->result ({loop['backend']}), {loop['frames']} frames x {loop['rounds']} rounds:"
    )
    for name, p in loop["total_ms"].items():
        label = "no link" if name == "off" else ("all links" if name == "all" else f"{name} alone")
        lines.append(
            f"  {label:>14}: p50 {p['p50']:.2f} ms, p95 {p['p95']:.2f} ms, p99 {p['p99']:.2f} ms "
            f"({loop['parts'][name]} parts)"
        )
    return "\n".join(lines)


def _wait(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("a loopback link did not come up")
        time.sleep(0.02)
