"""The line's PLC over Modbus TCP: a reject pulse per NG part, and the station's registers.

The register block (holding registers from ``PlcConfig.registers``; 32-bit values are two
registers, high word first):

=======  ==============================================================
offset   value
=======  ==============================================================
0        heartbeat: +1 every second while the station runs (wraps at 65535)
1        state: 0 stopped, 1 starting, 2 running, 3 paused, 4 source lost, 5 compiling
2-3      run id
4-5      parts decided this run
6-7      OK parts this run
8-9      NG parts this run
10-11    the last part's id in its run (during a reject pulse: the rejected part's)
12       the last part's verdict: 0 none yet, 1 OK, 2 NG
13-14    the last part's defect classes: bit n set for class id n
15       results written this run (wraps at 65535): changes with every part
16       the recipe in force (0: none chosen)
17       written by the PLC: the number of the recipe it wants (0: no wish); the station
         reads it ten times a second and changes recipe when it changes
=======  ==============================================================

In triggered mode the station reads the coil ``PlcConfig.trigger_coil`` every 5 ms; the PLC raises
it when a part stands under the camera, the station lowers it (the trigger is taken) and judges
the next frame it captures as that part.

A reject is the coil ``PlcConfig.reject_coil`` held on for ``pulse_ms``; two NG parts in quick
succession get two pulses with a gap as long as a pulse between them. A pulse that cannot start
within ``deadline_ms`` of the verdict (the PLC unreachable, say) is not sent late, where it would
reject the wrong part: it is counted as failed and logged.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from inspector.outputs.config import PLC_REGISTERS, PlcConfig
from inspector.outputs.link import CONNECTED, RETRYING, Link
from inspector.outputs.messages import STATE_CODES, Counters, PartMessage, Update

log = logging.getLogger(__name__)
# pymodbus logs every refused connection attempt, and traces frames as errors: the link says what
# matters (connected, retrying and why) in one line of its own
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

BLOCK = PLC_REGISTERS
WRITTEN = BLOCK - 1  # the last register is the PLC's, to ask for a recipe
RECIPE_POLL_S = 0.1
TRIGGER_POLL_S = 0.005  # how often the trigger coil is read while a triggered line runs
HEARTBEAT_S = 1.0
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 5.0


def _u32(value: int) -> list[int]:
    value &= 0xFFFFFFFF
    return [value >> 16, value & 0xFFFF]


def _reason(exc: Exception, cfg: PlcConfig) -> str:
    if isinstance(exc, ConnectionException | ModbusIOException | OSError):
        return f"no answer from {cfg.host}:{cfg.port}"
    return str(exc)


def register_block(heartbeat: int, update: Update, last: PartMessage | None, results: int) -> list[int]:
    """The registers the station writes, in the order of the map above."""
    verdict = 0 if last is None else (2 if last.ng else 1)
    counters = update.counters
    return [
        heartbeat & 0xFFFF,
        STATE_CODES[update.state],
        *_u32(counters.run),
        *_u32(counters.parts),
        *_u32(counters.ok),
        *_u32(counters.ng),
        *_u32(last.part.part if last else 0),
        verdict,
        *_u32(last.defect_mask if last else 0),
        results & 0xFFFF,
        update.recipe & 0xFFFF,
    ]


class _Refused(ModbusException):
    def __str__(self) -> str:
        return self.args[0]


class PlcLink(Link):
    """Writes the register block on every change and each second, and pulses the reject coil."""

    name = "PLC"

    def __init__(
        self,
        config: PlcConfig,
        on_recipe: Callable[[int], None] | None = None,
        on_trigger: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config.target)
        self.config = config
        self.on_recipe = on_recipe
        self.on_trigger = on_trigger
        self._pulses: deque[PartMessage] = deque()

    def queued(self) -> int:
        return len(self._pulses)

    def _serve(self) -> None:
        cfg = self.config
        client = ModbusTcpClient(cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0)
        update = Update("stopped", Counters())
        last: PartMessage | None = None  # the newest part, shown in the registers
        pulsing: PartMessage | None = None  # the part whose reject pulse is on now
        results = heartbeat = 0
        coil_off_at: float | None = None
        next_pulse_at = next_beat = retry_at = next_poll = 0.0
        wished: int | None = None  # the recipe number the PLC last asked for
        next_trigger_poll = 0.0
        backoff = FIRST_BACKOFF_S
        connected = dirty = False
        while True:
            now = time.monotonic()
            waits = [next_beat - now]
            if connected and self.on_recipe is not None:
                waits.append(next_poll - now)
            if connected and self.watch_trigger:
                waits.append(next_trigger_poll - now)
            if not connected:
                waits.append(retry_at - now)
            elif coil_off_at is not None:
                waits.append(coil_off_at - now)
            elif self._pulses:
                waits.append(next_pulse_at - now)
            items, final = self._take(min(waits))
            for item in items:
                if isinstance(item, Update):
                    if item.counters.run != update.counters.run:
                        results, last = 0, None
                    update, dirty = item, True
                    if item.part is not None:
                        last, results = item.part, results + 1
                        if item.part.ng:
                            with self._lock:
                                self._pulses.append(item.part)
            now = time.monotonic()
            if now >= next_beat:
                heartbeat, next_beat, dirty = heartbeat + 1, now + HEARTBEAT_S, True
            self._drop_late_pulses()
            try:
                if not connected:
                    if now < retry_at and not final:
                        continue
                    if not client.connect():
                        raise ConnectionError(f"no connection to {cfg.host}:{cfg.port}")
                    connected, backoff, dirty = True, FIRST_BACKOFF_S, True
                    self._check(client.write_coil(cfg.reject_coil, False, device_id=cfg.unit))
                    coil_off_at = None
                    self._set(CONNECTED, "")
                if coil_off_at is not None and now >= coil_off_at:
                    self._check(client.write_coil(cfg.reject_coil, False, device_id=cfg.unit))
                    coil_off_at, pulsing, dirty = None, None, True
                    next_pulse_at = now + cfg.pulse_ms / 1000
                if coil_off_at is None and self._pulses and now >= next_pulse_at:
                    reject = self._pulses[0]  # taken off the queue once the coil is on
                    shown = register_block(heartbeat, update, reject, results)
                    self._check(client.write_registers(cfg.registers, shown, device_id=cfg.unit))
                    self._check(client.write_coil(cfg.reject_coil, True, device_id=cfg.unit))
                    done = time.perf_counter()
                    coil_off_at = time.monotonic() + cfg.pulse_ms / 1000
                    with self._lock:
                        pulsing = self._pulses.popleft()
                        self.sent += 1
                    self.latency.add("reject", (done - pulsing.decided_perf) * 1000)
                    dirty = False
                if self.watch_trigger and self.on_trigger is not None and now >= next_trigger_poll:
                    next_trigger_poll = now + TRIGGER_POLL_S
                    self._take_trigger(client)
                if self.on_recipe is not None and now >= next_poll:
                    next_poll = now + RECIPE_POLL_S
                    wished = self._read_wish(client, wished)
                if dirty:
                    shown = register_block(heartbeat, update, pulsing or last, results)
                    self._check(client.write_registers(cfg.registers, shown, device_id=cfg.unit))
                    dirty = False
            except (ModbusException, ConnectionError, OSError) as exc:
                client.close()
                connected, coil_off_at, pulsing = False, None, None
                retry_at = time.monotonic() + backoff
                self._set(RETRYING, f"{_reason(exc, cfg)}; next try in {backoff:.1f} s")
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            if final and (not connected or (coil_off_at is None and not self._pulses and not dirty)):
                break
        client.close()

    def _take_trigger(self, client: ModbusTcpClient) -> None:
        """A raised trigger coil is lowered (the PLC sees it taken) and handed to ``on_trigger``."""
        cfg = self.config
        response = client.read_coils(cfg.trigger_coil, count=1, device_id=cfg.unit)
        self._check(response)
        if response.bits[0]:
            self._check(client.write_coil(cfg.trigger_coil, False, device_id=cfg.unit))
            if self.on_trigger is not None:
                self.on_trigger()

    def _read_wish(self, client: ModbusTcpClient, wished: int | None) -> int:
        """The PLC's recipe register; a new non-zero number there is handed to ``on_recipe``."""
        cfg = self.config
        response = client.read_holding_registers(cfg.registers + WRITTEN, count=1, device_id=cfg.unit)
        self._check(response)
        number = int(response.registers[0])
        if number != wished and number and self.on_recipe is not None:
            self.on_recipe(number)
        return number

    def _check(self, response: object) -> None:
        """A Modbus exception response (a register the PLC does not have) is a failed write."""
        if getattr(response, "isError", lambda: False)():
            raise _Refused(f"the PLC refused the write ({response})")

    def _drop_late_pulses(self) -> None:
        """A reject later than ``deadline_ms`` would hit the wrong part: it is dropped, and said."""
        limit = time.perf_counter() - self.config.deadline_ms / 1000
        with self._lock:
            while self._pulses and self._pulses[0].decided_perf < limit:
                late = self._pulses.popleft()
                self.failed += 1
                log.warning(
                    "reject of part %s (run %s) not sent: the PLC was not reachable within %d ms",
                    late.part.part,
                    late.run.run,
                    self.config.deadline_ms,
                )
