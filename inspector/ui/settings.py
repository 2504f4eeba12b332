"""What the station remembers between launches (QSettings), and which of it still applies."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from inspector.capture.spec import STREAM_PREFIXES
from inspector.ui.station import LineConfig


def station_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "inspector", "station")


def source_still_exists(spec: str) -> bool:
    """Synthetic lines, cameras and URLs always do; files and folders must still be there."""
    text = spec.strip()
    if text.startswith("synthetic") or text.isdigit() or text.lower().startswith(STREAM_PREFIXES):
        return True
    return Path(text).expanduser().exists()


def remembered_config(
    settings: QSettings, default: LineConfig, source_given: bool, weights_given: bool
) -> LineConfig:
    """The last launch's line, where the command line did not name one and it still exists;
    otherwise the demo line."""
    config = default
    source = str(settings.value("line/source", "") or "")
    weights = str(settings.value("line/weights", "") or "")
    if not source_given and source and source_still_exists(source):
        config = config.with_(source=source)
    if not weights_given and weights and Path(weights).is_file():
        config = config.with_(weights=weights)
    device = settings.value("line/device")
    conf = settings.value("line/min_confidence")
    classes = settings.value("line/defect_classes")
    if device:
        config = config.with_(device=str(device))
    if conf is not None:
        config = config.with_(min_confidence=float(conf))
    if classes:
        config = config.with_(defect_classes=tuple(str(c) for c in classes))
    return config


def remember(settings: QSettings, config: LineConfig, backend: str, mode: str, geometry: QByteArray) -> None:
    settings.setValue("line/source", config.source)
    settings.setValue("line/weights", config.weights)
    settings.setValue("line/device", config.device)
    settings.setValue("line/min_confidence", config.min_confidence)
    settings.setValue("line/defect_classes", list(config.defect_classes or ()))
    settings.setValue("inference/backend", backend)
    settings.setValue("inference/mode", mode)
    settings.setValue("window/geometry", geometry)
    settings.sync()
