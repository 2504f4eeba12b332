"""Loading an ultralytics detect model, by its own loader, into a plain inference module."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import platform
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import torch
from torch import nn

from inspector.errors import InspectorError

os.environ.setdefault("YOLO_OFFLINE", "1")  # never probe the network from a line PC


def ultralytics_yolo() -> type:
    """ultralytics' ``YOLO`` class, imported so that its log goes to inspector's log file.

    Its logger writes to the stdout it finds at import (a fresh account also gets a settings notice
    there), which is where ``--json`` prints its one object and where an operator wants no noise:
    it is sent to the log instead. A heavy import, kept off the CLI's start-up.
    """
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        from ultralytics import YOLO
        from ultralytics.utils import LOGGER

    LOGGER.handlers.clear()
    LOGGER.propagate = True  # to the root logger: the log file
    if said.getvalue().strip():
        LOGGER.info(said.getvalue().strip())
    return YOLO


class ModelLoadError(InspectorError):
    """The weights could not be turned into a detect model; the message says why."""


TRUST_HINT = "load it only if you trust where it came from: --trust-model"
_loading = threading.Lock()  # ultralytics' switches below are the process's, so one load at a time


@contextlib.contextmanager
def _load_rules(trust: bool) -> Iterator[None]:
    """ultralytics' own switches, held for one load: unpickle only the tensors and the model
    classes ultralytics knows (``weights_only``), unless the operator trusts the file; and never
    pip-install a module a checkpoint names."""
    from ultralytics.nn import tasks
    from ultralytics.utils import checks

    with _loading, patch.object(tasks, "SAFE_LOAD", not trust), patch.object(checks, "AUTOINSTALL", False):
        yield


def _refused_as_unsafe(exc: BaseException) -> bool:
    """Whether the restricted unpickler refused something in the file (code, or unknown types)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, pickle.UnpicklingError) and "weights only" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass(frozen=True, slots=True)
class DetectorModel:
    """A fused, eval-mode detect network and what the rest of the engine needs to know about it."""

    network: nn.Module
    names: dict[int, str]
    stride: int
    end2end: bool
    path: str
    sha256: str | None
    device: torch.device
    dtype: torch.dtype
    trusted: bool = False  # loaded without safe loading, on the operator's word

    @property
    def name(self) -> str:
        return Path(self.path).name


class Predictions(nn.Module):
    """The network's decoded predictions only (ultralytics also returns the raw head maps)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(x)
        return out[0] if isinstance(out, tuple | list) else out


class _EveryShape:
    """Stands in for the Detect head's last input shape, equal to every shape: the head then keeps
    the anchors it has whatever the batch (its own test compares the batch too, which would tie a
    compiled function to one batch size)."""

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False


def keep_anchors(network: nn.Module, keep: bool) -> None:
    """With ``keep``, the Detect head keeps the anchors of its last input for every later input (of
    that frame size only!); without, it builds them anew on the next call."""
    network.model[-1].shape = _EveryShape() if keep else None


def first_line(exc: BaseException) -> str:
    """An exception's message cut to one line for the operator (ultralytics and torch write pages,
    and ultralytics starts some with "ERROR" and an emoji a plain font cannot draw). A first line
    that only says where (OpenVINO's "Exception from src/...cpp:268:") is joined to the next."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    line = lines[0] if lines else type(exc).__name__
    if line.endswith(":") and len(lines) > 1:
        line = f"{line} {lines[1]}"
    return re.sub(r"^ERROR\W*", "", line).strip() or type(exc).__name__


def _why_not(exc: BaseException, path: Path) -> str:
    """ultralytics' reason a file did not load, in one sentence and without the path again (the
    operator's line names it already); torch's explanations run to a paragraph."""
    text = first_line(exc)
    for spelled in (str(path), str(path).lstrip("/\\")):
        text = text.replace(spelled, "the file")
    text = text.split(". ", 1)[0].rstrip(".")
    return text + ")" * (text.count("(") - text.count(")"))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_detector(
    weights: str | Path,
    device: torch.device,
    half: bool | None = None,
    end2end: bool | None = None,
    trust: bool = False,
) -> DetectorModel:
    """Load a ``.pt`` checkpoint or a model ``.yaml`` through ultralytics.

    A checkpoint is a pickle, which can run code as it is read: it is read with ultralytics' safe
    loading (only tensors and known model classes) unless ``trust``; either way nothing a file
    names is installed. fp16 is used on CUDA unless ``half`` says otherwise; the CPU always runs
    fp32. ``end2end`` picks the NMS-free one-to-one head of models that have one (YOLO26); by
    default it follows the model's own YAML.
    """
    path = Path(weights)
    suffix = path.suffix.lower()
    if suffix not in {".pt", ".yaml", ".yml"}:
        raise ModelLoadError(f"{path}: expected an ultralytics .pt checkpoint or a model .yaml")
    if suffix == ".pt" and not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    YOLO = ultralytics_yolo()
    sha256 = file_sha256(path) if path.is_file() else None
    try:
        with _load_rules(trust), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # a model built from YAML gets the same weights in every process
            yolo = YOLO(str(path), task=None, verbose=False)
    except Exception as exc:  # ultralytics raises many types for a bad file
        if not trust and _refused_as_unsafe(exc):
            raise ModelLoadError(
                f"{path} (sha256 {sha256}) holds more than an ultralytics checkpoint's tensors and model "
                f"classes, which could run code as it is read; not loaded. {TRUST_HINT}"
            ) from exc
        raise ModelLoadError(f"{path}: not a loadable ultralytics model ({_why_not(exc, path)})") from exc
    if yolo.task != "detect":
        raise ModelLoadError(f"{path}: a {yolo.task} model, but inspector needs a detect model")
    network = yolo.model
    if not isinstance(network, nn.Module):
        raise ModelLoadError(f"{path}: the checkpoint holds no network")
    head = network.model[-1]
    if getattr(head, "one2one_cv2", None) is not None:
        wanted = bool(network.yaml.get("end2end", False)) if end2end is None else end2end
        head.end2end = wanted
    use_half = device.type == "cuda" if half is None else half and device.type == "cuda"
    dtype = torch.float16 if use_half else torch.float32
    network = network.fuse(verbose=False) if hasattr(network, "fuse") else network
    network = network.to(device=device, dtype=dtype).eval()
    if dtype == torch.float16 and device.type == "cuda":
        depthwise_off_cudnn(network)
    if uses_onednn(device):
        # oneDNN's convolutions run faster on channels-last tensors, as ultralytics' own predict knows
        # (docs/PERFORMANCE.md, "Code comments' numbers")
        network = network.to(memory_format=torch.channels_last)
    for p in network.parameters():
        p.requires_grad_(False)
    names = {int(k): str(v) for k, v in dict(network.names).items()}
    return DetectorModel(
        network=network,
        names=names,
        stride=int(max(network.stride.tolist())),
        end2end=bool(getattr(head, "end2end", False)),
        path=str(path),
        sha256=sha256,
        device=device,
        dtype=dtype,
        trusted=trust,
    )


class DepthwiseConv2d(nn.Conv2d):
    """A half-precision depthwise convolution kept away from cuDNN.

    cuDNN 9 builds its depthwise kernels while the program runs, once per input size and layout:
    0.15-0.35 s for each depthwise layer of yolo11n and yolo26n on an H100, so the first frame at a
    new size took 1.4 s (yolo26n 1.9 s), and a compiled function's first call as long again. Eager, it
    runs in fp32, where PyTorch picks its own CUDA kernel (no build, as fast on these small maps);
    compiled, it is a sum of shifted maps, which Inductor fuses into one kernel of the graph."""

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if torch.compiler.is_compiling():
            return self._shifted_sum(x, weight, bias)
        bias = None if bias is None else bias.float()  # both no-ops while the weights stay fp32
        return super()._conv_forward(x.float(), weight.float(), bias).to(x.dtype)

    def _shifted_sum(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        h = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        w = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        padded = nn.functional.pad(x.float(), (pw, pw, ph, ph))
        out = 0.0 if bias is None else bias.view(1, -1, 1, 1)
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dh, i * dh + (h - 1) * sh + 1, sh)
                cols = slice(j * dw, j * dw + (w - 1) * sw + 1, sw)
                out = out + padded[:, :, rows, cols] * weight[:, 0, i, j].view(1, -1, 1, 1)
        return out.to(x.dtype)


def depthwise_off_cudnn(network: nn.Module) -> None:
    """Turn every depthwise ``nn.Conv2d`` of ``network`` into a ``DepthwiseConv2d`` with fp32 weights."""
    for module in network.modules():
        if type(module) is not nn.Conv2d:
            continue
        depthwise = module.groups > 1 and module.groups == module.in_channels == module.out_channels
        if depthwise and module.padding_mode == "zeros" and not isinstance(module.padding, str):
            module.__class__ = DepthwiseConv2d
            module.float()


def uses_onednn(device: torch.device) -> bool:
    """Whether torch runs this device's convolutions through oneDNN (x86 CPUs)."""
    x86 = platform.machine() in {"x86_64", "AMD64"}
    return device.type == "cpu" and x86 and torch.backends.mkldnn.is_available()


def model_input_size(network: Any, requested: int | None) -> int:
    """The size asked for, else the size the checkpoint was trained at, else 640."""
    if requested:
        return requested
    args = getattr(network, "args", None)
    trained = args.get("imgsz") if isinstance(args, dict) else None
    return trained if isinstance(trained, int) else 640
