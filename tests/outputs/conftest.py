"""Decided parts made by hand, a real loopback PLC, and a real MQTT broker (mosquitto)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from inspector.inspection.parts import NG, OK, PartDefect, PartVerdict
from inspector.lab.loopback_broker import LoopbackBroker, mosquitto
from inspector.lab.loopback_plc import LoopbackPlc

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


@pytest.fixture
def broker(tmp_path) -> Iterator[LoopbackBroker]:
    if mosquitto() is None:
        pytest.fail("mosquitto is not installed: `apt-get install mosquitto` (.ci/run does)")
    server = LoopbackBroker(tmp_path).start()
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
