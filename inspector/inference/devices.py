"""Choosing the torch device the operator asked for, with a clear word when it is not there."""

from __future__ import annotations

import torch

from inspector.errors import InspectorError


class DeviceError(InspectorError):
    """The requested device does not exist on this machine."""


def resolve_device(name: str | None = "auto") -> torch.device:
    """``auto`` picks the first CUDA GPU when one is present, else the CPU."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} asked for, but no CUDA GPU is available here")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist")
        return torch.device("cuda", index)
    raise DeviceError(f"unsupported device {name!r}: use auto, cpu, cuda or cuda:N")


def describe_device(device: torch.device) -> str:
    """A human name: the GPU model, or the CPU with its thread count."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
