"""The device side of one frame as one fixed-shape function: letterbox → network → NMS.

At batch 1 YOLO is bound by kernel launches, not arithmetic, so the win comes from launching the
whole frame at once: Inductor fuses the letterbox into a few kernels, and on CUDA the function is
recorded as one CUDA graph by ``torch.cuda.graph`` (at batch 1, one per row of the frame pool; for
a larger batch, one per batch size of ``graph_sizes``). The graphs are captured by hand (not by
``mode="reduce-overhead"``'s graph trees), so they can be built and replayed in any thread.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp

import torch
from torch._dynamo import config as dynamo_config
from torch._inductor import config as inductor_config

from inspector.errors import ConfigError
from inspector.inference.calibration import CalibrationFrames
from inspector.inference.model import DetectorModel, Predictions, first_line, keep_anchors
from inspector.inference.openvino_network import OpenVinoNetwork, cpu_computes_bf16
from inspector.inference.postprocess import decide_in_graph, top_candidates, undecided
from inspector.inference.preprocess import letterbox_geometry, letterbox_on_host, letterbox_tensor
from inspector.inference.threads import inference_threads

MAX_CANDIDATES = 1000  # rows handed to NMS; ultralytics' own cap is 30000, never reached at batch 1
NMS_ROUNDS = 8  # the demo model's frames settle in 2-4 (see ``decide_in_graph``)
# rows the NMS in the graph compares (the demo line's frames: at most 71 above the default conf);
# a frame with more above ``conf`` goes to the host's NMS over all ``MAX_CANDIDATES``
DECIDED_ROWS = 256


@dataclass(frozen=True, slots=True)
class PipelineMode:
    """How one compile mode is realised: Inductor's mode (None: no Inductor), a CUDA graph or not,
    the network compiled by OpenVINO or not, and the one device type it runs on (None: any)."""

    inductor: str | None
    cuda_graph: bool
    help: str
    openvino: bool = False
    device: str | None = None
    precision: str = ""  # OpenVINO's: f32, bf16, or int8 (quantized on frames of the line)

    @property
    def int8(self) -> bool:
        return self.precision == "int8"


PIPELINE_MODES: dict[str, PipelineMode] = {
    "reduce-overhead": PipelineMode(
        "default", True, "Inductor kernels replayed as one CUDA graph", device="cuda"
    ),
    "default": PipelineMode("default", False, "Inductor kernels, launched one by one"),
    "max-autotune": PipelineMode(
        "max-autotune-no-cudagraphs",
        True,
        "autotuned Inductor kernels as one CUDA graph (slow compile)",
        device="cuda",
    ),
    "cuda-graph": PipelineMode(
        None, True, "the eager model recorded as one CUDA graph: ready in a second", device="cuda"
    ),
    "openvino": PipelineMode(
        None,
        False,
        "the network compiled by OpenVINO for the CPU, in f32: ready in seconds",
        True,
        "cpu",
        "f32",
    ),
    "openvino-bf16": PipelineMode(
        None,
        False,
        "OpenVINO in bf16, on a CPU that computes in it: about 1.7x openvino's speed without AMX; scores "
        "move, but on the synthetic line every part got eager's verdict (README, Compiled modes)",
        True,
        "cpu",
        "bf16",
    ),
    "openvino-int8": PipelineMode(
        None,
        False,
        "OpenVINO in INT8, calibrated on the line's own frames: about twice as fast as openvino on a CPU "
        "without AMX; on the synthetic line it found the same defects (README, Compiled modes)",
        True,
        "cpu",
        "int8",
    ),
}


def graph_sizes(batch: int) -> list[int]:
    """The batch sizes a pipeline for up to ``batch`` frames records a CUDA graph for: the powers
    of two from 2 below it, and ``batch``. A call runs the smallest that holds its frames, so a batch
    of 20 costs a graph of 32, not of 64 (a graph costs its whole size, however few frames it holds)."""
    sizes = [1 << k for k in range(1, batch.bit_length()) if 1 << k < batch]
    return [*sizes, batch] if batch > 1 else [1]


def default_mode(device_type: str) -> str:
    """The compiled mode a line uses unless told otherwise: CUDA graphs on a GPU, OpenVINO on a CPU."""
    return "reduce-overhead" if device_type == "cuda" else "openvino"


def mode_on(device_type: str, mode: str | None) -> str:
    """The mode a line on this device runs: ``mode`` where the device runs it, else its default (a
    window remembers the mode of its last line, which may have run on another device)."""
    return mode if mode is not None and mode in modes_for(device_type) else default_mode(device_type)


def modes_for(device_type: str) -> list[str]:
    """The compile modes that run on this device type (bf16 only on a CPU that computes in it), the
    default first."""
    usable = [
        name
        for name, how in PIPELINE_MODES.items()
        if how.device in (None, device_type) and (how.precision != "bf16" or cpu_computes_bf16())
    ]
    return sorted(usable, key=lambda name: name != default_mode(device_type))


@dataclass(frozen=True, slots=True)
class CompileProgress:
    """One step of a compile warm-up, for a progress bar: ``fraction`` runs from 0 to 1 (where the
    stage starts); ``expected_s``: how long the last compile of the same kind took here, if one did."""

    stage: str
    fraction: float
    elapsed_s: float
    detail: str = ""
    expected_s: float | None = None

    def estimate(self, elapsed_s: float) -> tuple[float, str]:
        """The bar's fraction and the time left in words ("" once ready), ``elapsed_s`` into the
        compile: by the last compile of the kind where there was one (inside Inductor's kernel
        stage, the longest, the stages say nothing), else by the stages alone."""
        expected = self.expected_s
        if self.fraction >= 1.0:  # ready: nothing is left, however long the last one took
            return 1.0, ""
        if expected is None:
            return self.fraction, "no estimate: the first compile of its kind here"
        if elapsed_s < expected:
            left = f"about {expected - elapsed_s:.0f} s left"
            return max(self.fraction, min(0.99, elapsed_s / expected)), left
        return max(self.fraction, 0.99), f"{elapsed_s - expected:.0f} s past the last one's {expected:.0f} s"


ProgressCallback = Callable[[CompileProgress], None]


class FramePipeline:
    """Compiled (and on CUDA graph-captured) letterbox + network + ``top_candidates`` + NMS for one
    frame size and batch.

    It reads the frames where they lie: ``frames`` are (rows, H, W, 3) uint8 rows of host memory,
    page-locked on CUDA, and a call names the rows of its batch. It returns a static (N, k, 7) device
    tensor that the next call overwrites. On CUDA the NMS runs in the graph with the
    ``set_thresholds`` values; on the CPU the last column says "host, decide".

    On the CPU the first rows are the function's input: as many as the call has frames in the
    OpenVINO modes, else ``batch``. On CUDA the rows are mapped into
    the device's address space, so the letterbox kernel reads each frame over the bus itself: no copy
    is launched and only the pixels it samples cross (a third of a 1080p frame at 640; 0.11-0.13 ms a
    frame less than copying it first, H100). At batch 1 every row gets a graph of its own; a larger
    batch has a graph over the whole pool for each of ``graph_sizes``, which takes its rows from a
    small index on the device. Their function is compiled once, for any batch size from 2 on.
    """

    def __init__(
        self,
        model: DetectorModel,
        frames: torch.Tensor,
        imgsz: int,
        mode: str,
        batch: int = 1,
        calibration: CalibrationFrames | None = None,
    ) -> None:
        if mode not in PIPELINE_MODES:
            raise ConfigError(f"unknown compile mode {mode!r}: choose one of {', '.join(PIPELINE_MODES)}")
        self.model = model
        self.mode, self.mode_name = PIPELINE_MODES[mode], mode
        frame_shape = tuple(frames.shape[1:3])
        self.geometry = letterbox_geometry(*frame_shape, imgsz, model.stride)
        self.device = model.device
        self.frames = frames
        self.each_row = self.device.type == "cuda" and batch == 1
        # per batch size, the rows its graph reads, in batch order (a batched pipeline on a GPU only)
        self.rows: list[torch.Tensor] = []
        if self.device.type == "cpu":  # OpenVINO takes any batch up to ``batch``: a call runs its own
            sizes = range(1, batch + 1) if self.mode.openvino else [batch]
            self.inputs = [frames[:size] for size in sizes]
        elif self.each_row:
            self.inputs = [mapped_on_device(frames[row : row + 1], self.device) for row in range(len(frames))]
        else:
            self.inputs = [mapped_on_device(frames, self.device)]
            device = self.device
            self.rows = [torch.zeros(size, dtype=torch.long, device=device) for size in graph_sizes(batch)]
        self._predictions: Callable[[torch.Tensor], torch.Tensor] = Predictions(model.network)
        # read by the graph on every replay, so new thresholds need no new compile
        self._thresholds_set = (0.25, 0.7)  # conf, iou: the engine's defaults until it sends its own
        self.thresholds = torch.tensor(self._thresholds_set, dtype=torch.float32, device=self.device)
        self.cache_hit = False
        self.precision = ""  # the precision OpenVINO runs in, once prepared in the openvino mode
        self.calibration = calibration  # frames of the line, for an INT8 mode
        self.letterbox_ms = 0.0  # the last call's letterbox, where it runs outside the compiled function
        self._runs: list[Callable[[], torch.Tensor]] = []  # one per input

    def _letterbox(self, frame: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        if self.device.type == "cpu":  # as the eager backend does it there, and timed apart as there
            start = time.perf_counter()
            x = letterbox_on_host(list(frame.numpy()), self.geometry, self.model.dtype)
            self.letterbox_ms = (time.perf_counter() - start) * 1e3
            return x
        return letterbox_tensor(frame, self.geometry, self.model.dtype, rows)

    @property
    def _variable_batch(self) -> bool:
        """Graphs of several batch sizes from one compile, the batch a variable of it from 2 on
        (1 would be specialised apart)."""
        return len(self.rows) > 1

    @property
    def decided_rows(self) -> int | None:
        """How many best rows of each frame the NMS in the graph compares (a frame it leaves to the
        host needs all of them); None where no NMS runs in it (a CPU: the host decides every frame)."""
        return DECIDED_ROWS if self.device.type == "cuda" else None

    def set_thresholds(self, conf: float, iou: float) -> None:
        """The confidence and IoU thresholds of the NMS in the graph, from the next call on."""
        if (conf, iou) != self._thresholds_set:
            self.thresholds.copy_(torch.tensor([conf, iou]))
            self._thresholds_set = (conf, iou)

    def _candidates(self, x: torch.Tensor) -> torch.Tensor:
        return top_candidates(self._predictions(x), MAX_CANDIDATES, self.model.end2end)

    def _whole_frame(self, frame: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
        """The GPU's function: launches are what cost there, so everything goes in one graph."""
        return self._decided(self._letterbox(frame), thresholds)

    def _whole_batch(self, pool: torch.Tensor, rows: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
        """The GPU's function for a batch: the frames in ``rows`` of the pool, in one graph."""
        return self._decided(self._letterbox(pool, rows), thresholds)

    def _decided(self, x: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
        return decide_in_graph(self._candidates(x), thresholds, self.model.end2end, NMS_ROUNDS, DECIDED_ROWS)

    def _network_only(self, x: torch.Tensor) -> torch.Tensor:
        """The CPU's function: OpenCV's letterbox (the eager backend's own, bit for bit) before it,
        and the host's NMS after it, which is cheaper there than all-pairs IoU."""
        return undecided(self._candidates(x))

    def prepare(self, progress: ProgressCallback | None = None, saved: Path | None = None) -> None:
        """Trace, compile, capture and warm up; each stage is reported as it starts.

        ``saved`` is where the compiled function is kept between processes: loaded from there it
        skips Dynamo's trace and Inductor's lowering (yolov8n on an H100: live in 1.0 s instead of
        3.6-4.7 s from the warm cache); compiled afresh, it is written there."""
        start = time.perf_counter()

        def report(stage: str, fraction: float, detail: str = "") -> None:
            if progress is not None:
                progress(CompileProgress(stage, fraction, time.perf_counter() - start, detail))

        on_gpu = self.device.type == "cuda"
        fn = self._network_only
        if on_gpu:
            fn = self._whole_batch if self.rows else self._whole_frame
        # what each run reads: a row of its own at batch 1 on a GPU, a batch size's rows above that
        inputs = [(self.inputs[0], rows) for rows in self.rows] or [(frame, None) for frame in self.inputs]

        def args(frame: torch.Tensor, rows: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
            if not on_gpu:
                return (self._letterbox(frame),)
            return (frame, self.thresholds) if rows is None else (frame, rows, self.thresholds)

        network = self.model.network
        with torch.inference_mode():
            example = args(*inputs[-1])  # the largest batch
            if self._variable_batch:
                torch._dynamo.mark_dynamic(example[1], 0, min=2, max=len(example[1]))
            report("tracing", 0.05, "eager reference run")
            keep_anchors(network, False)  # built anew for this frame size by the next call
            fn(*example)  # the Detect head builds its anchors here, outside the trace
            if self._variable_batch:
                keep_anchors(network, True)  # for every batch size
            detail = "no compile needed"
            if self.mode.openvino:
                detail = self._openvino(example[0], saved, report)
            elif self.mode.inductor is not None:
                fn, detail = self._compiled(fn, example, saved, report)
            if self.mode.cuda_graph and on_gpu:
                sizes = ", ".join(str(len(rows)) for rows in self.rows)
                what = f"for batches of {sizes}" if self.rows else "of the whole frame"
                report("capturing graphs", 0.85, f"{len(inputs)} CUDA graphs {what}")
                # one memory pool for all: they run one at a time, and a call's output is only
                # good until the next call, so one graph's scratch may be another's output
                # (yolo11n, seven graphs: the prepare took 318 MiB this way, 474 with a pool each)
                pool = torch.cuda.graph_pool_handle()
                self._runs = [capture_graph(fn, *args(*run_inputs), pool=pool) for run_inputs in inputs]
            else:
                self._runs = [_each_call(fn, args, *run_inputs) for run_inputs in inputs]
            report("warm-up runs", 0.95)
            # every graph on a GPU; on a CPU the largest batch, which the smaller ones' calls share
            for run in self._runs if on_gpu else self._runs[-1:]:
                for _ in range(3):
                    run()
            if on_gpu:
                torch.cuda.synchronize(self.device)
        report("ready", 1.0, detail)

    def _openvino(
        self, example: torch.Tensor, saved: Path | None, report: Callable[[str, float, str], None]
    ) -> str:
        """The network in the CPU function swapped for OpenVINO's compile of it, kept in a folder
        beside ``saved`` (a temporary one without it); returns what happened, in words."""
        folder = saved.with_name(saved.name + ".openvino") if saved is not None else Path(mkdtemp())
        calibration = self.calibration if self.mode.int8 else None
        precision = self.mode.precision
        network = OpenVinoNetwork(
            self.model, example, folder, inference_threads(), report, precision, calibration
        )
        self._predictions = network
        self.cache_hit = network.cache_hit
        how = "from the on-disk cache" if network.cache_hit else "converted cold"
        self.precision = network.precision
        return f"OpenVINO {network.precision} ({network.why}), {how}{network.problem}"

    def _compiled(
        self,
        fn: Callable[..., torch.Tensor],
        args: tuple[torch.Tensor, ...],
        saved: Path | None,
        report: Callable[[str, float, str], None],
    ) -> tuple[Callable[..., torch.Tensor], str]:
        """``fn`` compiled and run once: loaded from ``saved`` when it holds it, else by Inductor
        (its on-disk cache may hold the kernels) and then saved; returns it and what happened."""
        problem = ""
        if saved is not None and saved.exists():
            report("loading compiled", 0.15, "the compiled function saved by an earlier run")
            try:
                with saved.open("rb") as fh:
                    loaded = functools.partial(torch.compiler.load_compiled_function(fh), self)
                loaded(*args)
                self.cache_hit = True
                return loaded, "from the on-disk cache"
            except Exception as exc:  # another torch wrote it, or it is damaged: compile instead
                saved.unlink(missing_ok=True)
                problem = f"; the saved one was unusable ({type(exc).__name__}: {first_line(exc)})"
        report("compiling kernels", 0.15, f"{self.mode_name}: {self.mode.help}")
        before = _graph_cache_counts()
        # Inductor lays convolutions out channels-last for cuDNN's tensor cores, except where the
        # batch is a variable: forced here, as the batched graphs are otherwise much slower
        batched = inductor_config.patch(force_layout_optimization=self._variable_batch)
        with dynamo_config.patch(enable_aot_compile=True), batched:  # aot: off by default before 2.14
            compiled = torch.compile(fn, fullgraph=True, dynamic=False, mode=self.mode.inductor)
            try:
                ahead = compiled.aot_compile((args, {}))
            except Exception as exc:  # the compile that cannot be saved still runs
                ahead, problem = None, f"; not saved ({type(exc).__name__}: {first_line(exc)})"
        if ahead is not None:
            compiled = functools.partial(ahead, self)  # a saved function takes ``self`` as an argument
        compiled(*args)
        if ahead is not None and saved is not None:
            try:
                saved.parent.mkdir(parents=True, exist_ok=True)
                ahead.save_compiled_function(str(saved))
            except Exception as exc:  # a full disk, say: this run is unaffected, the next compiles
                problem += f"; not saved ({type(exc).__name__}: {first_line(exc)})"
        hits, misses = (now - then for now, then in zip(_graph_cache_counts(), before, strict=True))
        self.cache_hit = hits > 0 and misses == 0
        detail = "from the on-disk cache" if self.cache_hit else "compiled cold (cache miss)"
        return compiled, detail + problem

    def __call__(self, rows: Sequence[int]) -> torch.Tensor:
        """Run the frames in these rows of ``frames``, one per batch entry: on a GPU as many entries
        as the smallest graph that holds them has, in the OpenVINO modes one per row, else ``batch``.
        Entries after the rows are the first frame again or stale (their candidates are not read)."""
        if not self._runs:
            raise RuntimeError("frame pipeline used before prepare()")
        if self.each_row:
            return self._runs[rows[0]]()
        if self.rows:
            run = next(i for i, size in enumerate(self.rows) if len(size) >= len(rows))
            fill = len(self.rows[run]) - len(rows)
            self.rows[run].copy_(torch.tensor([*rows, *[rows[0]] * fill]))
            return self._runs[run]()
        for target, row in zip(self.inputs[-1], rows, strict=False):
            source = self.frames[row]
            if target.data_ptr() != source.data_ptr():  # the first rows are the input
                target.copy_(source)
        return self._runs[len(rows) - 1 if len(self._runs) > 1 else 0]()


def _each_call(
    fn: Callable[..., torch.Tensor],
    args: Callable[..., tuple],
    frame: torch.Tensor,
    rows: torch.Tensor | None,
) -> Callable[[], torch.Tensor]:
    """``fn`` on ``frame`` with its arguments made at each call (the CPU letterboxes the frame then)."""
    return lambda: fn(*args(frame, rows))


class _HostBytes:
    """Page-locked host memory described by the CUDA array interface, from which torch builds a
    CUDA tensor; that tensor holds this object, and so the host tensor, for as long as it lives."""

    def __init__(self, host: torch.Tensor) -> None:
        if host.dtype != torch.uint8 or not host.is_contiguous():
            raise ValueError("only contiguous uint8 frames are mapped")
        self.host = host
        self.__cuda_array_interface__ = {
            "shape": tuple(host.shape),
            "typestr": "|u1",
            "data": (host.data_ptr(), False),
            "version": 3,
        }


def mapped_on_device(host: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CUDA tensor at the address of the page-locked host tensor ``host`` (unified addressing):
    kernels that read it fetch the bytes over the bus as they need them."""
    return torch.as_tensor(_HostBytes(host), device=device)


def capture_graph(
    fn: Callable[..., torch.Tensor], *inputs: torch.Tensor, pool: tuple[int, int] | None = None
) -> Callable[[], torch.Tensor]:
    """Record ``fn(*inputs)`` as a CUDA graph, its memory from ``pool`` if given; warm-up runs on a
    side stream first, as capture requires."""
    device = inputs[0].device
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            fn(*inputs)
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, pool=pool):
        out = fn(*inputs)

    def replay(static_inputs: tuple[torch.Tensor, ...] = inputs) -> torch.Tensor:
        # the graph reads the inputs' memory on every replay: holding them here keeps them from
        # being freed and reused (an illegal memory access once the caching allocator returned it)
        graph.replay()
        return out

    return replay


def _graph_cache_counts() -> tuple[int, int]:
    """Inductor's FX-graph cache hits and misses so far in this process."""
    from torch._dynamo.utils import counters

    return counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"]
