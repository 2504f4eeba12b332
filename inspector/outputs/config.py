"""Which plant links a station has, each given as one URL (``--plc``, ``--mqtt``, ``--opcua``).

Nothing is sent and nothing listens unless its URL is given. Passwords come from the environment
(``INSPECTOR_MQTT_PASSWORD``, ``INSPECTOR_OPCUA_PASSWORD``) so they never show in a process list;
one written into a URL is accepted but never shown or logged.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from inspector.errors import ConfigError

MQTT_PASSWORD_ENV = "INSPECTOR_MQTT_PASSWORD"
OPCUA_PASSWORD_ENV = "INSPECTOR_OPCUA_PASSWORD"
PLC_REGISTERS = 18  # the station's block: 17 it writes, one the PLC writes (``inspector.outputs.plc``)
_SECRET = re.compile(r"(://[^/:@\s]*:)[^@\s]*@")


def _split(url: str, option: str, schemes: tuple[str, ...]) -> tuple[SplitResult, dict[str, str]]:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - a port that is no number raises here
    except ValueError as exc:
        raise ConfigError(f"{option} {redact(url)}: {exc}") from exc
    if parts.scheme not in schemes or not parts.hostname:
        example = f"{schemes[0]}://HOST[:PORT]"
        raise ConfigError(f"{option} {redact(url)}: expected {example}")
    return parts, dict(parse_qsl(parts.query, keep_blank_values=True))


def redact(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@`` in it replaced by ``***``."""
    return _SECRET.sub(r"\1***@", text)


def _int(options: dict[str, str], key: str, default: int, low: int, high: int, option: str) -> int:
    text = options.pop(key, None)
    if text is None:
        return default
    if not text.strip().isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"{option}: {key} must be a whole number within {low}..{high}, got {text!r}")
    return int(text)


def _no_more(options: dict[str, str], option: str, known: str) -> None:
    if options:
        raise ConfigError(f"{option}: unknown setting {', '.join(sorted(options))} (known: {known})")


@dataclass(frozen=True)
class PlcConfig:
    """``modbus://HOST[:PORT][?unit=1&coil=0&trigger=1&registers=0&pulse_ms=200&deadline_ms=1000]``"""

    host: str
    port: int = 502
    unit: int = 1  # the Modbus unit (slave) id
    reject_coil: int = 0
    trigger_coil: int = 1  # the PLC raises it to have a part judged (triggered mode); the station lowers it
    registers: int = 0  # the first holding register of the station's block
    pulse_ms: int = 200
    deadline_ms: int = 1000  # a reject that cannot start by then is dropped, never sent late
    timeout_s: float = 1.0

    @property
    def target(self) -> str:
        return f"modbus://{self.host}:{self.port}"

    @classmethod
    def parse(cls, url: str) -> PlcConfig:
        parts, options = _split(url, "--plc", ("modbus", "modbus+tcp"))
        config = cls(
            host=parts.hostname or "",
            port=parts.port or 502,
            unit=_int(options, "unit", 1, 0, 247, "--plc"),
            reject_coil=_int(options, "coil", 0, 0, 65535, "--plc"),
            trigger_coil=_int(options, "trigger", 1, 0, 65535, "--plc"),
            registers=_int(options, "registers", 0, 0, 65536 - PLC_REGISTERS, "--plc"),
            pulse_ms=_int(options, "pulse_ms", 200, 10, 10_000, "--plc"),
            deadline_ms=_int(options, "deadline_ms", 1000, 10, 60_000, "--plc"),
        )
        _no_more(options, "--plc", "unit, coil, trigger, registers, pulse_ms, deadline_ms")
        if config.trigger_coil == config.reject_coil:
            raise ConfigError("--plc: the trigger and the reject need coils of their own")
        return config


@dataclass(frozen=True)
class MqttConfig:
    """``mqtt://[USER@]HOST[:PORT][/TOPIC/PREFIX][?ca=FILE&cert=FILE&key=FILE]``; ``mqtts://`` for TLS."""

    host: str
    prefix: str
    station: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @property
    def client_id(self) -> str:
        return f"inspector-{self.station}"

    @property
    def target(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}/{self.prefix}"

    @classmethod
    def parse(cls, url: str, station: str) -> MqttConfig:
        parts, options = _split(url, "--mqtt", ("mqtt", "mqtts"))
        prefix = unquote(parts.path).strip("/") or f"inspector/{station}"
        if any(c in prefix for c in "+#\0") or "//" in prefix or "#" in url:
            raise ConfigError(f"--mqtt: the topic prefix {prefix!r} may not hold +, # or an empty level")
        tls = parts.scheme == "mqtts"
        files = {}
        for key in ("ca", "cert", "key"):
            text = options.pop(key, None)
            if text is not None:
                path = Path(text).expanduser()
                if not path.is_file():
                    raise ConfigError(f"--mqtt: {key} file {path} does not exist")
                files[key], tls = path, True
        _no_more(options, "--mqtt", "ca, cert, key")
        password = os.environ.get(MQTT_PASSWORD_ENV) or (unquote(parts.password) if parts.password else None)
        return cls(
            host=parts.hostname or "",
            prefix=prefix,
            station=station,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=password,
            tls=tls,
            **files,
        )


@dataclass(frozen=True)
class OpcUaConfig:
    """``opc.tcp://[USER@]HOST:PORT[/PATH]``: the endpoint the station's server listens on."""

    endpoint: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def target(self) -> str:
        return self.endpoint

    @classmethod
    def parse(cls, url: str) -> OpcUaConfig:
        parts, options = _split(url, "--opcua", ("opc.tcp",))
        _no_more(options, "--opcua", "none")
        username = unquote(parts.username) if parts.username else None
        password = os.environ.get(OPCUA_PASSWORD_ENV) or (unquote(parts.password) if parts.password else None)
        if username and not password:
            raise ConfigError(f"--opcua: user {username} needs a password in {OPCUA_PASSWORD_ENV}")
        netloc = f"{parts.hostname}:{parts.port or 4840}"
        return cls(parts._replace(netloc=netloc, query="").geturl(), username, password)


@dataclass(frozen=True)
class OutputsConfig:
    """The station's name (in every message) and its links; none by default."""

    station: str = field(default_factory=socket.gethostname)
    plc: PlcConfig | None = None
    mqtt: MqttConfig | None = None
    opcua: OpcUaConfig | None = None

    @classmethod
    def parse(
        cls, station: str | None, plc: str | None, mqtt: str | None, opcua: str | None
    ) -> OutputsConfig:
        name = (station or socket.gethostname()).strip()
        if not name or any(c in name for c in "/+#\0"):
            raise ConfigError(f"--station {name!r}: a station name may not be empty or hold /, + or #")
        return cls(
            station=name,
            plc=PlcConfig.parse(plc) if plc else None,
            mqtt=MqttConfig.parse(mqtt, name) if mqtt else None,
            opcua=OpcUaConfig.parse(opcua) if opcua else None,
        )
