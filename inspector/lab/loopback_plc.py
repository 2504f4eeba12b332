"""pymodbus's own Modbus TCP server standing in for a line's PLC, on loopback: it records every write,
so a run can be checked (one reject pulse per NG part) and the verdict-to-coil time measured."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

WRITE_COIL, WRITE_COILS, WRITE_REGISTER, WRITE_REGISTERS = 5, 15, 6, 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True, slots=True)
class Write:
    at: float  # perf_counter when the server took the write
    coil: bool  # a coil write (else holding registers)
    address: int
    values: tuple[int, ...]


class LoopbackPlc:
    """A PLC with ``coils`` coils and ``registers`` holding registers from address 0 on, served in a
    thread of its own on 127.0.0.1; ``stop`` and ``start`` again to play a PLC that goes away."""

    def __init__(self, port: int | None = None, unit: int = 1, coils: int = 64, registers: int = 256) -> None:
        self.port = port or free_port()
        self.unit = unit
        self.writes: list[Write] = []
        self._lock = threading.Lock()
        self._coils, self._registers = coils, registers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusTcpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"modbus://127.0.0.1:{self.port}?unit={self.unit}"

    def start(self) -> LoopbackPlc:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="loopback PLC", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the loopback PLC did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(10)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = self._server = self._thread = None

    def coil_writes(self, coil: int) -> list[Write]:
        with self._lock:
            return [w for w in self.writes if w.coil and w.address == coil]

    def pulses(self, coil: int) -> int:
        """Rising edges of ``coil``: each is one reject."""
        level, edges = False, 0
        for w in self.coil_writes(coil):
            edges += w.values[0] and not level
            level = bool(w.values[0])
        return edges

    def register_writes(self) -> list[Write]:
        with self._lock:
            return [w for w in self.writes if not w.coil]

    def registers_now(self, start: int, count: int) -> list[int]:
        """The holding registers as the last writes left them."""
        values = [0] * count
        for w in self.register_writes():
            for i, v in enumerate(w.values):
                if start <= w.address + i < start + count:
                    values[w.address + i - start] = v
        return values

    async def _record(
        self,
        function_code: int,
        _start: int,
        address: int,
        _count: int,
        _current: list[int],
        values: list[int] | list[bool] | None,
    ) -> None:
        if values is not None and function_code in (WRITE_COIL, WRITE_COILS, WRITE_REGISTER, WRITE_REGISTERS):
            coil = function_code in (WRITE_COIL, WRITE_COILS)
            write = Write(time.perf_counter(), coil, address, tuple(int(v) for v in values))
            with self._lock:
                self.writes.append(write)

    def _serve(self, ready: threading.Event) -> None:
        async def main() -> None:
            device = SimDevice(
                id=self.unit,
                simdata=(
                    [SimData(0, count=self._coils, values=False, datatype=DataType.BITS)],
                    [SimData(0, count=1, values=False, datatype=DataType.BITS)],
                    [SimData(0, count=self._registers, values=0, datatype=DataType.REGISTERS)],
                    [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
                ),
                action=self._record,
            )
            self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
            self._loop = asyncio.get_running_loop()
            await self._server.serve_forever(background=True)
            ready.set()
            await self._server.serving

        asyncio.run(main())


def main() -> None:
    """``python -m inspector.lab.loopback_plc PORT``: serve until killed, in a process of its own
    (as a real PLC is: the bench's timings then share no interpreter with it)."""
    import sys

    plc = LoopbackPlc(int(sys.argv[1])).start()
    print(f"loopback PLC at {plc.url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
