"""What the station remembers between launches (QSettings), and which of it still applies."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from inspector.capture.spec import STREAM_PREFIXES
from inspector.errors import ConfigError
from inspector.line.config import LineConfig
from inspector.shifts import DEFAULT_SHIFTS, Shifts


def station_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "inspector", "station")


def source_still_exists(spec: str) -> bool:
    """Synthetic lines, cameras and URLs always do; files and folders must still be there."""
    text = spec.strip()
    if text.startswith("synthetic") or text.isdigit() or text.lower().startswith(STREAM_PREFIXES):
        return True
    return Path(text).expanduser().exists()


def remembered_config(settings: QSettings, default: LineConfig, given: frozenset[str]) -> LineConfig:
    """The last launch's line where the command line did not say otherwise (``given`` names the
    settings it gave) and the remembered source and model still exist; otherwise the default."""
    remembered: dict[str, object] = {}
    source = str(settings.value("line/source", "") or "")
    weights = str(settings.value("line/weights", "") or "")
    if source and source_still_exists(source):
        remembered["source"] = source
    if weights and Path(weights).is_file():
        remembered["weights"] = weights
    if device := settings.value("line/device"):
        remembered["device"] = str(device)
    if (conf := settings.value("line/min_confidence")) is not None:
        remembered["min_confidence"] = float(conf)
    if classes := settings.value("line/defect_classes"):
        remembered["defect_classes"] = tuple(str(c) for c in classes)
    if (backend := settings.value("inference/backend")) in ("eager", "compiled"):
        remembered["backend"] = str(backend)
    if mode := settings.value("inference/mode"):
        remembered["mode"] = str(mode)
    kept = {name: value for name, value in remembered.items() if name not in given}
    try:
        return default.with_(**kept)
    except ValueError:  # a settings file edited by hand: the command line's line, untouched
        return default


def remembered_shifts(settings: QSettings, given: Shifts | None) -> Shifts:
    """The shifts given on the command line (remembered from now on), else the remembered ones."""
    if given is not None:
        settings.setValue("station/shifts", str(given))
        return given
    try:
        return Shifts.parse(str(settings.value("station/shifts", DEFAULT_SHIFTS)))
    except ConfigError:  # a settings file edited by hand
        return Shifts.parse(DEFAULT_SHIFTS)


def remember(settings: QSettings, config: LineConfig, geometry: QByteArray) -> None:
    settings.setValue("line/source", config.source)
    settings.setValue("line/weights", config.weights)
    settings.setValue("line/device", config.device)
    settings.setValue("line/min_confidence", config.min_confidence)
    settings.setValue("line/defect_classes", list(config.defect_classes or ()))
    settings.setValue("inference/backend", config.backend)
    if config.mode:
        settings.setValue("inference/mode", config.mode)
    settings.setValue("window/geometry", geometry)
    settings.sync()
