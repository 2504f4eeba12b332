"""Results to the plant's MQTT broker, store and forward.

Topics under the prefix (``site/area/line/station``, say):

- ``PREFIX/parts``: one JSON message per decided part, QoS 1. Each first goes into the outbox
  table of the station's database and is deleted only when the broker acknowledged it, so a broker
  or network outage, or a restart of the station, loses none; the backlog drains on reconnect.
  Delivery is at least once: consumers de-duplicate by ``(station, run, part)``.
- ``PREFIX/state``: the station's state and recipe, retained, QoS 1 (``offline`` as its last will).
- ``PREFIX/counters``: the run's parts, OK and NG, retained, QoS 1.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from sqlalchemy.exc import SQLAlchemyError

from inspector.outputs.config import MqttConfig
from inspector.outputs.link import CONNECTED, RETRYING, Link
from inspector.outputs.messages import STATE_CODES, Update, iso_utc
from inspector.storage.outbox import Outbox

log = logging.getLogger(__name__)

WINDOW = 100  # outbox messages handed to the client at once; the rest wait in the database
CLOSE_WAIT_S = 3.0
LOST = "connection lost"  # at the end, how long acknowledgements are awaited before the rest stay queued


@dataclass(frozen=True, slots=True)
class _Connected:
    ok: bool
    reason: str


@dataclass(frozen=True, slots=True)
class _Acked:
    mid: int


class MqttLink(Link):
    name = "MQTT"

    def __init__(self, config: MqttConfig, outbox: Outbox) -> None:
        super().__init__(config.target)
        self.config = config
        self.outbox = outbox
        self._backlog = 0

    def queued(self) -> int:
        return self._backlog

    def topic(self, leaf: str) -> str:
        return f"{self.config.prefix}/{leaf}"

    def _client(self) -> mqtt.Client:
        cfg = self.config
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id)
        offline = {"station": cfg.station, "state": "offline", "code": -1}
        client.will_set(self.topic("state"), json.dumps(offline), qos=1, retain=True)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            client.tls_set(
                ca_certs=str(cfg.ca) if cfg.ca else None,
                certfile=str(cfg.cert) if cfg.cert else None,
                keyfile=str(cfg.key) if cfg.key else None,
            )
        client.reconnect_delay_set(min_delay=1, max_delay=4)
        client.on_connect = lambda _c, _u, _f, rc, _p: self.put(_Connected(not rc.is_failure, str(rc)))
        client.on_connect_fail = lambda _c, _u: self.put(_Connected(False, "broker not reachable"))
        client.on_disconnect = lambda _c, _u, _f, _rc, _p: self.put(_Connected(False, LOST))
        client.on_publish = lambda _c, _u, mid, _rc, _p: self.put(_Acked(mid))
        return client

    def _serve(self) -> None:
        client = self._client()
        self._backlog = self.outbox.count()
        client.connect_async(self.config.host, self.config.port, keepalive=15)
        client.loop_start()
        handed: dict[int, int] = {}  # the client's message id -> outbox id, until acknowledged
        decided: dict[int, float] = {}  # outbox id -> when its part was decided, for the latency
        last_handed = 0
        latest: Update | None = None
        connected = state_due = False
        closing_since: float | None = None
        last_state: list[mqtt.MQTTMessageInfo] = []
        while True:
            new: list[tuple[str, str]] = []
            times: list[float] = []
            acked: list[int] = []
            items, final = self._take(0.2 if closing_since else 1.0)
            for item in items:
                if isinstance(item, Update):
                    latest, state_due = item, True
                    if item.part is not None:
                        new.append((self.topic("parts"), json.dumps(item.part.as_json())))
                        times.append(item.part.decided_perf)
                elif isinstance(item, _Acked):
                    row = handed.pop(item.mid, None)
                    if row is not None:
                        acked.append(row)
                elif isinstance(item, _Connected):
                    if item.ok or connected or item.reason != LOST:  # keep why a connect was refused
                        self._set(CONNECTED if item.ok else RETRYING, "" if item.ok else item.reason)
                    connected = item.ok
                    state_due |= item.ok
            try:
                if new:
                    decided.update(zip(self.outbox.add(new), times, strict=True))
                if acked:
                    self.outbox.remove(acked)
                waiting = self.outbox.after(last_handed, WINDOW - len(handed)) if len(handed) < WINDOW else []
            except SQLAlchemyError as exc:  # a full disk, say: these messages cannot be kept
                log.error("MQTT outbox not usable, %d part messages lost: %s", len(new), exc)
                with self._lock:
                    self.failed += len(new)
                new, acked, waiting = [], [], []
            now = time.perf_counter()
            for row in acked:
                if row in decided:
                    self.latency.add("acked", (now - decided.pop(row)) * 1000)
            with self._lock:
                self.sent += len(acked)
                self._backlog += len(new) - len(acked)
            for message in waiting:
                info = client.publish(message.topic, message.payload, qos=1)
                if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                    log.error("MQTT message %d not queued: %s", message.id, mqtt.error_string(info.rc))
                    break
                handed[info.mid], last_handed = message.id, message.id
            if connected and state_due and latest is not None:
                last_state = self._publish_state(client, latest)
                state_due = False
            if final:
                closing_since = closing_since or time.monotonic()
                if not handed or not connected or time.monotonic() - closing_since > CLOSE_WAIT_S:
                    break
        if connected:  # the last state ("stopped") acknowledged before the clean disconnect
            deadline = (closing_since or time.monotonic()) + CLOSE_WAIT_S
            for info in last_state:
                with contextlib.suppress(ValueError, RuntimeError):  # not queued: nothing to wait for
                    info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        client.disconnect()
        client.loop_stop()

    def _publish_state(self, client: mqtt.Client, update: Update) -> list[mqtt.MQTTMessageInfo]:
        station = self.config.station
        at = iso_utc(update.at)
        code = STATE_CODES[update.state]
        state = {"station": station, "state": update.state, "code": code, "recipe": update.recipe, "time": at}
        counters = {"station": station, **update.counters.as_json(), "time": at}
        return [
            client.publish(self.topic("state"), json.dumps(state), qos=1, retain=True),
            client.publish(self.topic("counters"), json.dumps(counters), qos=1, retain=True),
        ]
