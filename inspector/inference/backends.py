"""Eager and ``torch.compile``d execution of the same network behind one call signature."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

COMPILE_MODES: tuple[str, ...] = (
    "default",
    "reduce-overhead",
    "max-autotune",
    "max-autotune-no-cudagraphs",
)
BACKENDS: tuple[str, ...] = ("eager", "compiled")


class CompileError(RuntimeError):
    """``torch.compile`` could not build the model; the eager backend stays in charge."""


@dataclass(frozen=True, slots=True)
class CompileProgress:
    """One step of a compile warm-up, for a progress bar: ``fraction`` runs from 0 to 1."""

    stage: str
    fraction: float
    elapsed_s: float
    detail: str = ""


ProgressCallback = Callable[[CompileProgress], None]


class Predictions(nn.Module):
    """The network's decoded predictions only (ultralytics also returns the raw head maps)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(x)
        return out[0] if isinstance(out, tuple | list) else out


class EagerBackend:
    """Plain PyTorch: nothing to prepare, ready at once."""

    name = "eager"

    def __init__(self, network: nn.Module) -> None:
        self.module = Predictions(network)
        self.label = "eager"

    def prepare(self, example: torch.Tensor, progress: ProgressCallback | None = None) -> None:
        with torch.inference_mode():
            self.module(example)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


class CompiledBackend:
    """``torch.compile(fullgraph=True, dynamic=False)`` over a fixed input shape.

    ``prepare`` runs the eager model once (the Detect head builds its anchors on its first call,
    which ``fullgraph`` cannot trace), then compiles and warms up, reporting each stage.
    """

    name = "compiled"

    def __init__(self, network: nn.Module, mode: str = "default") -> None:
        if mode not in COMPILE_MODES:
            raise ValueError(f"unknown compile mode {mode!r}: choose one of {', '.join(COMPILE_MODES)}")
        self.mode = mode
        self.label = f"compiled ({mode})"
        self._eager = Predictions(network)
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.cache_hit = False  # after prepare: whether Inductor found the graph in its disk cache

    def prepare(self, example: torch.Tensor, progress: ProgressCallback | None = None) -> None:
        start = time.perf_counter()

        def report(stage: str, fraction: float, detail: str = "") -> None:
            if progress is not None:
                progress(CompileProgress(stage, fraction, time.perf_counter() - start, detail))

        warm_calls = 3 if self.mode in ("reduce-overhead", "max-autotune") else 1
        before = _graph_cache_counts()
        try:
            with torch.inference_mode():
                report("tracing", 0.0, "eager reference run")
                self._eager(example)
                compiled = torch.compile(self._eager, fullgraph=True, dynamic=False, mode=self.mode)
                report("compiling kernels", 0.1, f"mode={self.mode}")
                compiled(example)
                for i in range(warm_calls):
                    stage = "capturing graphs" if i == 0 and warm_calls > 1 else "warm-up runs"
                    report(stage, 0.8 + 0.2 * i / warm_calls)
                    compiled(example)
                if example.device.type == "cuda":
                    torch.cuda.synchronize(example.device)
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CompileError(f"torch.compile failed ({type(exc).__name__}: {reason})") from exc
        self._compiled = compiled
        hits, misses = (now - then for now, then in zip(_graph_cache_counts(), before, strict=True))
        self.cache_hit = hits > 0 and misses == 0
        report("ready", 1.0, "from the on-disk cache" if self.cache_hit else "compiled cold (cache miss)")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._compiled is None:
            raise RuntimeError("compiled backend used before prepare()")
        return self._compiled(x)


def _graph_cache_counts() -> tuple[int, int]:
    """Inductor's FX-graph cache hits and misses so far in this process."""
    from torch._dynamo.utils import counters

    return counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"]


def make_backend(name: str, network: nn.Module, mode: str = "default") -> EagerBackend | CompiledBackend:
    if name == "eager":
        return EagerBackend(network)
    if name == "compiled":
        return CompiledBackend(network, mode)
    raise ValueError(f"unknown backend {name!r}: choose eager or compiled")
