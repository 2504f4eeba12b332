"""Decided parts made by hand, a real loopback PLC, and a real MQTT broker (mosquitto)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.inspection.parts import NG, OK, PartDefect, PartVerdict
from inspector.lab.loopback_plc import LoopbackPlc, free_port

CLASS_IDS = {"scratch": 0, "dent": 1, "stain": 2, "crack": 3, "plate": 4, "washer": 5}


def part(n: int, *defects: str) -> PartVerdict:
    """Part ``n``, NG with one defect of each class named, or OK with none."""
    box = (100.0, 100.0, 300.0, 300.0)
    spot = (150.0, 150.0, 170.0, 170.0)
    found = tuple(PartDefect(c, 0.9, spot, 10 * n, 5, 10 * n, 10 * n + 4) for c in defects)
    return PartVerdict(n, "plate", NG if defects else OK, 10 * n, 10 * n + 30, box, 10 * n + 15, found)


def wait_for(condition, timeout_s: float = 10.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout_s} s")
        time.sleep(0.02)


@pytest.fixture
def plc() -> Iterator[LoopbackPlc]:
    server = LoopbackPlc().start()
    yield server
    server.stop()


def mosquitto() -> str | None:
    """The broker's binary; Debian puts it in /usr/sbin, outside a user's PATH."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


class Broker:
    """mosquitto on a free loopback port; ``stop`` and ``start`` to play an outage."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        # sessions are saved each second, so a consumer's queued messages outlive a killed broker
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nautosave_interval 1\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen(
            [mosquitto() or "mosquitto", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._listening, 10, "mosquitto listening")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False


@pytest.fixture
def broker(tmp_path) -> Iterator[Broker]:
    if mosquitto() is None:
        pytest.fail("mosquitto is not installed: `apt-get install mosquitto` (.ci/run does)")
    server = Broker(tmp_path).start()
    yield server
    server.stop()


class Consumer:
    """A plant-side MQTT client with a persistent session: what the station sends, as the plant sees it."""

    def __init__(self, port: int, topics: str, name: str = "plant") -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, dict, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, clean_session=False)
        self.client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe(topics, qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_for(self.client.is_connected, 10, "the consumer connected")

    def _on_message(self, _c, _u, message) -> None:
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload), bool(message.retain)))

    def on(self, topic: str) -> list[dict]:
        with self._lock:
            return [body for t, body, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
