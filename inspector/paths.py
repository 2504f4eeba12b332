"""Where the project's own files live, in a checkout and in a frozen build alike."""

from __future__ import annotations

import sys
from pathlib import Path

from platformdirs import user_cache_path, user_data_path


def resources_dir() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root is not None:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def demo_model_path() -> Path:
    return resources_dir() / "models" / "inspector-demo.pt"


def app_icon_path() -> Path:
    """A bitmap, so the window icon needs no SVG plugin."""
    return resources_dir() / "icons" / "inspector.png"


def compile_cache_dir() -> Path:
    """Inductor/Triton caches, kept per user so a second launch compiles from warm caches."""
    return user_cache_path("inspector", appauthor=False) / "torch-compile"


def opcua_pki_dir() -> Path:
    """The OPC UA server's own certificate and private key, made at its first start."""
    return user_data_path("inspector", appauthor=False) / "opcua"
