"""A real MQTT broker (mosquitto, from the OS packages) on a free loopback port, for the bench and
the tests; ``stop`` and ``start`` again to play an outage."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

from inspector.lab.loopback_plc import free_port


def mosquitto() -> str | None:
    """The broker's binary; Debian puts it in /usr/sbin, outside a user's PATH."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


class LoopbackBroker:
    """``settings``: mosquitto configuration lines for its one listener (default: anyone may connect)."""

    def __init__(self, folder: Path, settings: str = "allow_anonymous true\n") -> None:
        binary = mosquitto()
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed (Debian/Ubuntu: apt-get install mosquitto)")
        self.binary = binary
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        # sessions are saved each second, so a consumer's queued messages outlive a killed broker
        # started as root it would become the "mosquitto" user, who cannot read the caller's files
        self.config.write_text(
            f"user {getpass.getuser()}\nlistener {self.port} 127.0.0.1\n{settings}persistence true\n"
            f"persistence_location {folder}/\nautosave_interval 1\n"
        )
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> LoopbackBroker:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout_s
        while not self._listening():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"mosquitto did not listen on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Kill it, as a crash or a pulled cable would."""
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
