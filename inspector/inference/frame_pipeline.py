"""The device side of one frame as one fixed-shape function: letterbox → network → best candidates.

At batch 1 YOLO is bound by kernel launches, not arithmetic, so the win comes from launching the
whole frame at once: Inductor fuses the letterbox into a few kernels, and on CUDA the function is
recorded as one CUDA graph by ``torch.cuda.graph``. The graph is captured by hand (not by
``mode="reduce-overhead"``'s graph trees), so it can be built and replayed in any thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from inspector.inference.model import DetectorModel, Predictions
from inspector.inference.postprocess import top_candidates
from inspector.inference.preprocess import letterbox_geometry, letterbox_on_host, letterbox_tensor

MAX_CANDIDATES = 1000  # rows handed to NMS; ultralytics' own cap is 30000, never reached at batch 1


@dataclass(frozen=True, slots=True)
class PipelineMode:
    """How one compile mode is realised: Inductor's mode (None: no Inductor) and a CUDA graph or not."""

    inductor: str | None
    cuda_graph: bool
    help: str


PIPELINE_MODES: dict[str, PipelineMode] = {
    "reduce-overhead": PipelineMode("default", True, "Inductor kernels replayed as one CUDA graph"),
    "default": PipelineMode("default", False, "Inductor kernels, launched one by one"),
    "max-autotune": PipelineMode(
        "max-autotune-no-cudagraphs", True, "autotuned Inductor kernels as one CUDA graph (slow compile)"
    ),
    "cuda-graph": PipelineMode(None, True, "the eager model recorded as one CUDA graph: ready in a second"),
}


@dataclass(frozen=True, slots=True)
class CompileProgress:
    """One step of a compile warm-up, for a progress bar: ``fraction`` runs from 0 to 1."""

    stage: str
    fraction: float
    elapsed_s: float
    detail: str = ""


ProgressCallback = Callable[[CompileProgress], None]


class FramePipeline:
    """Compiled (and on CUDA graph-captured) letterbox + network + ``top_candidates`` for one frame size
    and batch.

    Call it with the frames already in ``self.frame`` (a static (N, H, W, 3) device buffer); it
    returns a static (N, k, 6) device tensor that the next call overwrites.
    """

    def __init__(
        self,
        model: DetectorModel,
        frame_shape: tuple[int, int],
        imgsz: int,
        mode: str,
        frame: torch.Tensor | None = None,
        batch: int = 1,
    ) -> None:
        if mode not in PIPELINE_MODES:
            raise ValueError(f"unknown compile mode {mode!r}: choose one of {', '.join(PIPELINE_MODES)}")
        self.model = model
        self.mode = PIPELINE_MODES[mode]
        self.mode_name = mode
        self.geometry = letterbox_geometry(*frame_shape, imgsz, model.stride)
        self.device = model.device
        if frame is None or frame.device != self.device:
            frame = torch.zeros((batch, *frame_shape, 3), dtype=torch.uint8, device=self.device)
        self.frame = frame  # the static input: a device buffer, or on the CPU the shared frames themselves
        self._predictions = Predictions(model.network)
        self.cache_hit = False
        self._run: Callable[[], torch.Tensor] | None = None

    def _letterbox(self, frame: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cpu":  # as the eager backend does it there
            return letterbox_on_host(list(frame.numpy()), self.geometry, self.model.dtype)
        return letterbox_tensor(frame, self.geometry, self.model.dtype)

    def _candidates(self, x: torch.Tensor) -> torch.Tensor:
        return top_candidates(self._predictions(x), MAX_CANDIDATES, self.model.end2end)

    def _forward(self, frame: torch.Tensor) -> torch.Tensor:
        return self._candidates(self._letterbox(frame))

    def prepare(self, progress: ProgressCallback | None = None) -> None:
        """Trace, compile, capture and warm up; each stage is reported as it starts."""
        start = time.perf_counter()

        def report(stage: str, fraction: float, detail: str = "") -> None:
            if progress is not None:
                progress(CompileProgress(stage, fraction, time.perf_counter() - start, detail))

        graphed = self.mode.cuda_graph and self.device.type == "cuda"
        before = _graph_cache_counts()
        # On a GPU the letterbox is fused into the graph (launches are what cost there); on the
        # CPU it stays OpenCV's, bit for bit the eager backend's own, and only the network is compiled.
        on_gpu = self.device.type == "cuda"
        inside = self._forward if on_gpu else self._candidates
        with torch.inference_mode():
            report("tracing", 0.05, "eager reference run")
            self._forward(self.frame)  # the Detect head builds its anchors here, outside the trace
            fn = inside
            if self.mode.inductor is not None:
                fn = torch.compile(inside, fullgraph=True, dynamic=False, mode=self.mode.inductor)
                report("compiling kernels", 0.15, f"Inductor mode={self.mode.inductor}")
                fn(self.frame if on_gpu else self._letterbox(self.frame))
            if graphed:
                report("capturing graphs", 0.85, "one CUDA graph for the whole frame")
                self._run = capture_graph(fn, self.frame)
            elif on_gpu:
                self._run = lambda: fn(self.frame)
            else:
                self._run = lambda: fn(self._letterbox(self.frame))
            report("warm-up runs", 0.95)
            for _ in range(3):
                self._run()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
        if self.mode.inductor is not None:
            hits, misses = (now - then for now, then in zip(_graph_cache_counts(), before, strict=True))
            self.cache_hit = hits > 0 and misses == 0
            detail = "from the on-disk cache" if self.cache_hit else "compiled cold (cache miss)"
        else:
            detail = "no compile needed"
        report("ready", 1.0, detail)

    def __call__(self) -> torch.Tensor:
        if self._run is None:
            raise RuntimeError("frame pipeline used before prepare()")
        return self._run()


def capture_graph(
    fn: Callable[[torch.Tensor], torch.Tensor], frame: torch.Tensor
) -> Callable[[], torch.Tensor]:
    """Record ``fn(frame)`` as a CUDA graph; warm-up runs on a side stream first, as capture requires."""
    side = torch.cuda.Stream(frame.device)
    side.wait_stream(torch.cuda.current_stream(frame.device))
    with torch.cuda.stream(side):
        for _ in range(3):
            fn(frame)
    torch.cuda.current_stream(frame.device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn(frame)

    def replay(static_input: torch.Tensor = frame) -> torch.Tensor:
        # the graph reads ``frame``'s memory on every replay: holding it here keeps it from being
        # freed and reused (an illegal memory access once the caching allocator returned it)
        graph.replay()
        return out

    return replay


def _graph_cache_counts() -> tuple[int, int]:
    """Inductor's FX-graph cache hits and misses so far in this process."""
    from torch._dynamo.utils import counters

    return counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"]
