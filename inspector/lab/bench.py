"""``inspector bench``: ultralytics' own ``predict`` against inspector's backends, in one process.

Every contender gets the same 1080p BGR frames in host memory and is timed until its detections
are in host memory, one batch of frames at a time, with CUDA synchronised by the contender itself (a
detection on the host implies it). Inspector's compiled backend gets the frames where the station's
line puts them for it, rendered into its worker's shared frame pool; ``, frame copied`` is the same
backend given frames from elsewhere, which it first copies into shared memory. The contenders are
timed in turns, a slice of each at a time, so the host's noise weighs on all of them alike; ratios
measured in one run are what to compare.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import torch
from torch._inductor.async_compile import shutdown_compile_workers

from inspector.capture.base import capture_into
from inspector.capture.synthetic import SyntheticConveyor
from inspector.detections import Detection, StageTimes, iou
from inspector.inference.backends import CompiledBackend, CompileError
from inspector.inference.devices import describe_device
from inspector.inference.engine import Engine
from inspector.inference.frame_pipeline import PIPELINE_MODES, CompileProgress, capture_graph
from inspector.inference.frame_pool import FramePool
from inspector.inference.model import DetectorModel, Predictions, load_detector, ultralytics_yolo
from inspector.inference.preprocess import letterbox_geometry
from inspector.inference.threads import limit_cpu_threads
from inspector.lab.evaluation import match

Say = Callable[[str], None]
Boxes = list[tuple[str, tuple[float, float, float, float], float]]  # class, box, confidence
Batch = list[np.ndarray]
Contender = Callable[[Batch], list[Boxes]]  # a batch of frames → each frame's boxes
ROUNDS = 10  # turns each contender takes at being timed
CALIBRATION_SEED = 7  # the line an INT8 compile calibrates on; the timed frames are another one's
FLOOR = "forward only (floor)"
# the forward as ``torch.compile`` gives it to anyone: how "forward only" is usually measured and quoted
COMPILED_FORWARD = "forward only, torch.compile reduce-overhead, square input"
FLOORS = {FLOOR: "x floor", COMPILED_FORWARD: "x torch.compile forward"}  # each floor, and its ratio's key


@dataclass(frozen=True)
class BenchOptions:
    weights: str
    device: torch.device
    imgsz: int = 640
    modes: tuple[str, ...] = ("reduce-overhead", "cuda-graph")
    iters: int = 300
    warmup: int = 50
    frame_width: int = 1920
    frame_height: int = 1080
    conf: float = 0.25
    iou: float = 0.7
    ultralytics: bool = True
    switch_s: float = 0.0  # seconds of eager stream to time before a cold compile; 0: skip
    line_fps: float = 0.0  # the switch's eager stream: frames due per second; 0: back to back
    batch: int = 1  # frames per call
    hog: bool = False  # time every contender again beside a process that keeps a core busy
    tracking_processes: int | None = None  # a line of many cameras: where its parts are followed


def bench_frames(
    width: int, height: int, count: int = 8, pool: FramePool | None = None, step: int = 7
) -> list[np.ndarray]:
    """Frames of the synthetic line with parts on the belt, so a trained model finds defects: every
    ``step``-th frame (7: parts in many places; 1: a camera's frames in a row, the belt's own motion);
    with ``pool``, rendered into its slots as the station's line does for a compiled backend."""
    line = SyntheticConveyor(seed=2024, width=width, height=height, fps=0)
    if pool is not None:
        capture_into(line, pool)
    return [line.render(i * step).image for i in range(count)]


def bench_batches(frames: list[np.ndarray], batch: int) -> list[Batch]:
    """As many batches as frames, each frame in ``batch`` of them, in a fixed order."""
    return [[frames[(i * batch + j) % len(frames)] for j in range(batch)] for i in range(len(frames))]


def latency_stats(ms: Sequence[float], frames_per_call: int = 1) -> dict[str, float]:
    """Per-call latency; ``fps`` counts frames, so a batch of N counts N."""
    a = np.asarray(ms, dtype=float)
    p50, p95, p99 = np.percentile(a, (50, 95, 99))
    return {
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "mean": round(float(a.mean()), 3),
        "std": round(float(a.std()), 3),
        "max": round(float(a.max()), 3),
        "fps": round(1000.0 * frames_per_call / float(a.mean()), 1),
    }


def time_interleaved(
    contenders: dict[str, Contender], batches: list[Batch], iters: int, warmup: int, rounds: int = ROUNDS
) -> tuple[dict[str, dict[str, float]], dict[str, list[Boxes]]]:
    """Each contender's latency stats and its boxes for every frame of ``batches``.

    The contenders take turns, ``iters / rounds`` calls each per round, so a host that gets busier
    or quieter during the run weighs on all of them alike."""
    for call in contenders.values():
        for i in range(warmup):
            call(batches[i % len(batches)])
    ms: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(rounds):
        for name, call in contenders.items():
            for i in range(r * iters // rounds, (r + 1) * iters // rounds):
                batch = batches[i % len(batches)]
                start = time.perf_counter()
                call(batch)
                ms[name].append((time.perf_counter() - start) * 1e3)
    stats = {name: latency_stats(v, len(batches[0])) for name, v in ms.items()}
    boxes = {name: [b for batch in batches for b in call(batch)] for name, call in contenders.items()}
    return stats, boxes


def _engine_call(
    engine: Engine, stages: list[StageTimes], captured: dict[int, np.ndarray] | None = None
) -> Contender:
    """``engine.detect_batch`` returning boxes; each call's stage times are appended to ``stages``.
    With ``captured`` each frame is swapped for its copy there (by ``id``) before the call."""

    def call(batch: Batch) -> list[Boxes]:
        if captured is not None:
            batch = [captured[id(frame)] for frame in batch]
        outs = engine.detect_batch(batch)
        stages.append(outs[0].times)
        return [_boxes(out.detections) for out in outs]

    return call


def _stage_p50(stages: list[StageTimes]) -> dict[str, float]:
    return {
        name: round(float(np.median([getattr(t, f"{name}_ms") for t in stages])), 3)
        for name in ("pre", "infer", "post")
    }


def _boxes(dets: Sequence[Detection]) -> Boxes:
    return [(d.class_name, d.box, d.confidence) for d in dets]


def agreement(reference: list[Boxes], other: list[Boxes], min_iou: float = 0.9) -> dict[str, Any]:
    """Matched boxes (same class, IoU ≥ ``min_iou``), misses, extras and the worst differences."""
    matched = missed = extra = 0
    worst_iou, worst_conf = 1.0, 0.0
    for ref, out in zip(reference, other, strict=True):
        m = match([(c, b) for c, b, _ in ref], [(c, b) for c, b, _ in out], min_iou)
        conf_ref = {b: s for _, b, s in ref}
        conf_out = {b: s for _, b, s in out}
        for (_, tb), (_, fb) in m.pairs:
            worst_iou = min(worst_iou, iou(tb, fb))
            worst_conf = max(worst_conf, abs(conf_ref[tb] - conf_out[fb]))
        matched, missed, extra = matched + len(m.pairs), missed + m.missed, extra + m.extra
    return {
        "agree": missed == 0 and extra == 0 and worst_conf <= 0.02,
        "matched": matched,
        "missed": missed,
        "extra": extra,
        "min_iou": round(worst_iou, 4),
        "max_conf_diff": round(worst_conf, 4),
    }


def ultralytics_predict(opts: BenchOptions, compile_mode: str | None) -> Contender:
    yolo = ultralytics_yolo()(opts.weights, task="detect", verbose=False)
    kwargs: dict[str, Any] = {
        "imgsz": opts.imgsz,
        "device": str(opts.device),
        "conf": opts.conf,
        "iou": opts.iou,
        "verbose": False,
    }
    if opts.device.type == "cuda":
        kwargs["quantize"] = 16
    if compile_mode:
        kwargs["compile"] = compile_mode
    names = None

    def call(batch: Batch) -> list[Boxes]:
        nonlocal names
        found = []
        for result in yolo.predict(batch, **kwargs):  # a list of frames is one batch to ultralytics
            names = names or result.names
            data = result.boxes.data.cpu().tolist()
            found.append([(names[int(c)], (x1, y1, x2, y2), s) for x1, y1, x2, y2, s, c in data])
        return found

    return call


def _ultralytics_openvino(opts: BenchOptions, held: contextlib.ExitStack) -> Contender:
    """ultralytics' ``predict`` on its own OpenVINO export of the model (made offline, into a folder
    that lives as long as ``held``): what an ultralytics user would run on a CPU."""
    folder = Path(held.enter_context(tempfile.TemporaryDirectory(prefix="inspector-bench-")))
    weights = folder / Path(opts.weights).name
    shutil.copyfile(opts.weights, weights)
    yolo = ultralytics_yolo()(str(weights), task="detect", verbose=False)
    exported = yolo.export(format="openvino", imgsz=opts.imgsz, half=False, verbose=False)
    return ultralytics_predict(dataclasses.replace(opts, weights=str(exported)), None)


@contextlib.contextmanager
def busy_neighbour() -> Iterator[None]:
    """Another process that wants a core all the time, as other software on a line PC may."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # scheduled and spinning before anything is timed
        yield
    finally:
        hog.kill()
        hog.wait()


def forward_floor(model: DetectorModel, input_hw: tuple[int, int], batch: int = 1) -> Contender:
    """The network alone, input already on the device, Inductor-compiled and on CUDA one graph:
    what no whole-frame path can beat. It ignores the frames it is given and finds nothing.

    It runs a copy of the network: the Detect head keeps the anchors of the last input size it saw,
    and another size (the eager contender's) must not send this one back to Dynamo."""
    network = copy.deepcopy(model.network)
    x = torch.rand((batch, 3, *input_hw), device=model.device).to(model.dtype)
    with torch.inference_mode():
        network(x)  # anchors are built on the first eager call
        fn = torch.compile(Predictions(network), fullgraph=True, dynamic=False)
        fn(x)
        shutdown_compile_workers()
        run = capture_graph(fn, x) if model.device.type == "cuda" else (lambda: fn(x))
    return _forward_only(run, model.device)


def compiled_forward(opts: BenchOptions, dtype: torch.dtype) -> Contender:
    """ultralytics' network as it comes (fused, in inspector's ``dtype``), under ``torch.compile(mode=
    "reduce-overhead")``, on a square input already on the device: the forward-only figure as it is
    usually measured. Above ``forward_floor``, which is inspector's own graph of a network it has
    changed (depthwise layers, no graph-tree bookkeeping, the frames' own input size)."""
    network = ultralytics_yolo()(opts.weights, task="detect", verbose=False).model.fuse(verbose=False)
    network = network.to(device=opts.device, dtype=dtype).eval()
    x = torch.rand((opts.batch, 3, opts.imgsz, opts.imgsz), device=opts.device).to(dtype)
    fn = torch.compile(Predictions(network), mode="reduce-overhead", fullgraph=True, dynamic=False)
    with torch.inference_mode():
        network(x)  # anchors are built on the first eager call
        for _ in range(3):  # the first call compiles, the second records the CUDA graph, the third replays it
            fn(x)
    shutdown_compile_workers()
    return _forward_only(lambda: fn(x), opts.device)


def _forward_only(run: Callable[[], object], device: torch.device) -> Contender:
    """A contender that runs ``run`` and waits for the device: it ignores the frames, finds nothing."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def call(frames: Batch) -> list[Boxes]:
        with torch.inference_mode():
            run()
            sync()
        return [[] for _ in frames]

    return call


def _prepare_timed(
    backend: CompiledBackend, shape: tuple[int, int], say: Say, batch: int = 1
) -> dict[str, float]:
    """Seconds to start the worker (imports, model) and to compile, from the stage reports. An INT8
    compile calibrates on frames of a line it has never seen (its own seed), offered as a line does."""
    marks: dict[str, float] = {}

    def progress(p: CompileProgress) -> None:
        marks.setdefault(p.stage, p.elapsed_s)

    done = threading.Event()

    def offer_frames() -> None:
        line = SyntheticConveyor(seed=CALIBRATION_SEED, width=shape[1], height=shape[0], fps=0)
        index = 0
        while not done.is_set():
            backend.offer(line.render(index).image)
            index += 1

    if PIPELINE_MODES[backend.mode].int8:
        threading.Thread(target=offer_frames, daemon=True).start()
    start = time.perf_counter()
    try:
        backend.prepare(shape, progress=progress, batch=batch)
    finally:
        done.set()
    total = time.perf_counter() - start
    started = marks.get("tracing", 0.0)
    say(f"  {backend.label}: worker start {started:.1f} s, compile {total - started:.1f} s")
    return {
        "worker_start_s": round(started, 2),
        "compile_s": round(total - started, 2),
        "cache_hit": backend.cache_hit,
        "stage_starts_s": {k: round(v, 2) for k, v in marks.items()},
    }


def _eager_stream_while(
    engine: Engine, frames: list[np.ndarray], busy: Callable[[], bool], line_fps: float = 0.0
) -> dict[str, Any]:
    """Run eager frames while ``busy()``; the gaps between results are what a live view would show.

    With ``line_fps`` the frames come as from a camera at that rate: each run takes the newest frame,
    and frames that arrived meanwhile are dropped, as the station's slot does; without, back to back."""
    start = time.perf_counter()
    done = [start]
    taken = -1  # the camera's number of the last frame run
    while busy():
        if line_fps:
            newest = int((time.perf_counter() - start) * line_fps)
            if newest <= taken:
                time.sleep(max(0.0, start + (taken + 1) / line_fps - time.perf_counter()))
                continue
            taken = newest
        engine.detect(frames[len(done) % len(frames)])
        done.append(time.perf_counter())
    gaps = np.diff(np.asarray(done)) * 1e3
    if len(gaps) == 0:
        return {"frames": 0}
    return {
        "frames": len(gaps),
        "fps": round(len(gaps) / (done[-1] - done[0]), 1),
        "gap_p99_ms": round(float(np.percentile(gaps, 99)), 2),
        "gap_max_ms": round(float(gaps.max()), 2),
    }


def _while_streaming(
    task: Callable[[], dict[str, Any]], engine: Engine, frames: list[np.ndarray], line_fps: float
) -> dict[str, Any]:
    """Run ``task`` in a thread while this one streams eager frames, as the station does at a switch."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["task"] = task()
        except CompileError as exc:
            result["error"] = str(exc)

    thread = threading.Thread(target=run)
    thread.start()
    result["eager_during"] = _eager_stream_while(engine, frames, thread.is_alive, line_fps)
    thread.join()
    return result


def _started(backend: CompiledBackend) -> dict[str, Any]:
    start = time.perf_counter()
    backend.wait_started()
    return {"worker_start_s": round(time.perf_counter() - start, 2)}


def measure_switch(
    model: DetectorModel, opts: BenchOptions, frames: list[np.ndarray], mode: str, say: Say
) -> dict[str, Any]:
    """The live eager stream before, while the compile worker starts, during a cold compile (empty
    cache) on that worker, then during a warm one on a new worker started ahead. On a GPU the station
    starts its worker with the line, so the operator's switch meets a started worker; and it runs a
    compile its cache holds at once, so then the switch is live at the next frame."""
    engine = Engine(model, imgsz=opts.imgsz, conf=opts.conf, iou=opts.iou)
    shape = frames[0].shape[:2]
    deadline = time.perf_counter() + opts.switch_s
    fps = opts.line_fps
    before = _eager_stream_while(engine, frames, lambda: time.perf_counter() < deadline, fps)
    with tempfile.TemporaryDirectory(prefix="inspector-switch-") as cache:
        cold = CompiledBackend(model, opts.imgsz, mode, cache_dir=cache)
        start_run = _while_streaming(lambda: _started(cold), engine, frames, fps)
        cold_run = _while_streaming(lambda: _prepare_timed(cold, shape, say), engine, frames, fps)
        cold.close()
        warm = CompiledBackend(model, opts.imgsz, mode, cache_dir=cache)
        warm.wait_started()
        warm_run = _while_streaming(lambda: _prepare_timed(warm, shape, say), engine, frames, fps)
        warm.close()

    def kept(during: dict[str, Any]) -> float:
        return round(during.get("fps", 0.0) / before["fps"], 3) if before.get("fps") else 0.0

    return {
        "mode": mode,
        "line_fps": fps or None,
        "eager_before": before,
        "eager_during_worker_start": start_run["eager_during"],
        "fps_kept_worker_start": kept(start_run["eager_during"]),
        "worker_start_s": start_run.get("task", {}).get("worker_start_s"),
        "eager_during_cold_compile": cold_run["eager_during"],
        "fps_kept": kept(cold_run["eager_during"]),
        "cold": cold_run.get("task"),
        "error": start_run.get("error") or cold_run.get("error") or warm_run.get("error"),
        "eager_during_warm_compile": warm_run["eager_during"],
        "fps_kept_warm": kept(warm_run["eager_during"]),
        "warm": warm_run.get("task"),
    }


def model_facts(opts: BenchOptions, model: DetectorModel, input_hw: tuple[int, int]) -> dict[str, Any]:
    """What every bench report says of the model it timed and where it ran."""
    return {
        "model": model.name,
        "device": describe_device(opts.device),
        "dtype": str(model.dtype).removeprefix("torch."),
        "imgsz": opts.imgsz,
        "model_input": f"{input_hw[1]}x{input_hw[0]}",
    }


def run_bench(opts: BenchOptions, say: Say) -> dict[str, Any]:
    """Every contender on the same frames; returns one JSON-ready report."""
    if opts.device.type == "cpu":  # as the station runs: every contender with the same threads
        limit_cpu_threads()
    model = load_detector(opts.weights, opts.device)
    frames = bench_frames(opts.frame_width, opts.frame_height)
    batches = bench_batches(frames, opts.batch)
    input_hw = letterbox_geometry(opts.frame_height, opts.frame_width, opts.imgsz, model.stride).input
    report: dict[str, Any] = {
        **model_facts(opts, model, input_hw),
        "frame": f"{opts.frame_width}x{opts.frame_height} BGR uint8 in host memory",
        "batch": opts.batch,
        "iters": opts.iters,
        "torch": torch.__version__,
        "latency_ms": {},
        "compile": {},
        "agreement": {},
    }
    latency, compile_s, agree = report["latency_ms"], report["compile"], report["agreement"]
    contenders: dict[str, Contender] = {}
    stages: dict[str, list[StageTimes]] = {}

    def add_engine(name: str, engine: Engine, captured: dict[int, np.ndarray] | None = None) -> None:
        stages[name] = []
        contenders[name] = _engine_call(engine, stages[name], captured)

    add_engine("inspector eager", Engine(model, imgsz=opts.imgsz, conf=opts.conf, iou=opts.iou))
    with contextlib.ExitStack() as held:  # compile caches and workers, until every contender is timed
        # in-process compiles (ultralytics', the floor's) start from a cold cache too
        in_process_cache = held.enter_context(tempfile.TemporaryDirectory(prefix="inspector-bench-"))
        with patch.dict(os.environ, {"TORCHINDUCTOR_CACHE_DIR": in_process_cache}):
            if opts.ultralytics:
                import ultralytics

                report["ultralytics"] = ultralytics.__version__
                contenders["ultralytics predict"] = ultralytics_predict(opts, None)
                theirs_compiled = ultralytics_predict(opts, "reduce-overhead")
                say("compiling ultralytics predict(compile='reduce-overhead')")
                start = time.perf_counter()
                theirs_compiled(batches[0])
                shutdown_compile_workers()  # an idle pool slows the process it lives in (see compiled_worker)
                compile_s["ultralytics predict reduce-overhead"] = {
                    "first_call_s": round(time.perf_counter() - start, 2)
                }
                contenders["ultralytics predict reduce-overhead"] = theirs_compiled
                if opts.device.type == "cpu":
                    say("exporting the model with ultralytics' OpenVINO export")
                    start = time.perf_counter()
                    contenders["ultralytics predict, OpenVINO export"] = _ultralytics_openvino(opts, held)
                    compile_s["ultralytics predict, OpenVINO export"] = {
                        "first_call_s": round(time.perf_counter() - start, 2)
                    }
            say("compiling the network's forward alone (the floor)")
            contenders[FLOOR] = forward_floor(model, input_hw, opts.batch)
            say(f"compiling ultralytics' network alone at {opts.imgsz}x{opts.imgsz}, mode reduce-overhead")
            contenders[COMPILED_FORWARD] = compiled_forward(opts, model.dtype)
        for mode in opts.modes:
            name = f"inspector compiled ({mode})"
            say(f"{name}: cold compile, then a new worker from the warm cache")
            cache = held.enter_context(tempfile.TemporaryDirectory(prefix="inspector-bench-"))
            try:
                cold = CompiledBackend(model, opts.imgsz, mode, cache_dir=cache)
                held.callback(cold.close)  # also when its compile fails; closing twice is harmless
                compile_s[name] = {"cold": _prepare_timed(cold, frames[0].shape[:2], say, opts.batch)}
                cold.close()
                warm = CompiledBackend(model, opts.imgsz, mode, cache_dir=cache, pool_slots=len(frames))
                held.callback(warm.close)
                compile_s[name]["warm"] = _prepare_timed(warm, frames[0].shape[:2], say, opts.batch)
            except CompileError as exc:
                compile_s[name] = {"error": str(exc)}
                say(f"  {exc}")
                continue
            engine = Engine(model, imgsz=opts.imgsz, conf=opts.conf, iou=opts.iou)
            engine.use(warm)
            # the same pixels, rendered into the worker's shared pool as the station's line renders them
            pooled = bench_frames(opts.frame_width, opts.frame_height, len(frames), warm.frame_pool)
            add_engine(name, engine, {id(f): p for f, p in zip(frames, pooled, strict=True)})
            add_engine(f"{name}, frame copied", engine)
        say(f"timing {len(contenders)} contenders in turn, {opts.iters} calls of {opts.batch} frames each")
        timings, boxes = time_interleaved(contenders, batches, opts.iters, opts.warmup)
        if opts.hog:
            say("timing them again beside a process that keeps one core busy")
            with busy_neighbour():
                report["latency_ms_beside_hog"] = time_interleaved(contenders, batches, opts.iters, 0)[0]
    latency.update(timings)
    eager_boxes = boxes["inspector eager"]
    for name in contenders:
        if name.startswith("ultralytics"):
            agree[f"{name} vs inspector eager"] = agreement(boxes[name], eager_boxes)
        elif name.startswith("inspector compiled"):
            agree[f"{name} vs inspector eager"] = agreement(eager_boxes, boxes[name])
    report["stage_p50_ms"] = {name: _stage_p50(times) for name, times in stages.items()}
    report["speedup_p50"] = _speedups(latency)
    if opts.switch_s > 0 and opts.modes:
        say(f"switch: eager stream during a cold {opts.modes[0]} compile")
        report["switch"] = measure_switch(model, opts, frames, opts.modes[0], say)
    return report


def _speedups(latency: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each inspector contender's p50 against the others' (above 1: inspector is faster)."""
    others = [k for k in latency if not k.startswith("inspector") and k not in FLOORS]
    out = {}
    for name, stats in latency.items():
        if name.startswith("inspector"):
            out[name] = {f"vs {o}": round(latency[o]["p50"] / stats["p50"], 2) for o in others}
            for floor, key in FLOORS.items():
                if floor in latency:
                    out[name][key] = round(stats["p50"] / latency[floor]["p50"], 2)
    return out


def format_bench(report: dict[str, Any]) -> str:
    unit = "frame" if report["batch"] == 1 else f"batch of {report['batch']}"
    header = "end to end, ms per " + unit
    width = max(len(name) for name in [header, *report["latency_ms"]]) + 2  # the names' column
    lines = [
        f"{report['model']} on {report['device']} ({report['dtype']}), {report['frame']} → "
        f"{report['model_input']} input, batch {report['batch']}, {report['iters']} calls, "
        f"torch {report['torch']}"
        + (f", ultralytics {report['ultralytics']}" if "ultralytics" in report else ""),
        "",
        f"{header:<{width}}{'p50':>8}{'p95':>8}{'p99':>8}{'std':>8}{'fps':>8}",
    ]
    for name, s in report["latency_ms"].items():
        lines.append(
            f"{name:<{width}}{s['p50']:>8.2f}{s['p95']:>8.2f}{s['p99']:>8.2f}{s['std']:>8.2f}{s['fps']:>8.0f}"
        )
    if report.get("latency_ms_beside_hog"):
        lines += ["", f"{'beside a busy neighbour process':<{width}}{'p50':>8}{'p95':>8}{'p99':>8}{'fps':>8}"]
        quiet = report["latency_ms"]
        for name, s in report["latency_ms_beside_hog"].items():
            lines.append(
                f"{name:<{width}}{s['p50']:>8.2f}{s['p95']:>8.2f}{s['p99']:>8.2f}{s['fps']:>8.0f}"
                f"   p95 = {s['p95'] / quiet[name]['p50']:.1f}x quiet p50"
            )
    if report.get("stage_p50_ms"):
        lines += [
            "",
            "inspector stages, p50 ms (compiled: pre = hand-over to the worker, infer = its device time)",
        ]
        for name, st in report["stage_p50_ms"].items():
            times = f"pre {st['pre']:.3f}  infer {st['infer']:.3f}  post {st['post']:.3f}"
            lines.append(f"  {name:<{width - 2}}{times}")
    lines += ["", "compile"]
    for name, c in report["compile"].items():
        if "error" in c:
            lines.append(f"  {name}: failed: {c['error']}")
        elif "first_call_s" in c:
            lines.append(f"  {name}: first call {c['first_call_s']:.1f} s")
        else:
            cold, warm = c["cold"], c["warm"]
            lines.append(
                f"  {name}: cold {cold['compile_s']:.1f} s, warm {warm['compile_s']:.1f} s "
                f"(cache hit: {warm['cache_hit']}), worker start {warm['worker_start_s']:.1f} s"
            )
    lines += ["", "speed-up at p50 (above 1: inspector faster)"]
    for name, s in report["speedup_p50"].items():
        lines.append(f"  {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in s.items()))
    lines += ["", "agreement (same class, IoU >= 0.9, confidence within 0.02)"]
    for name, a in report["agreement"].items():
        verdict = "agree" if a["agree"] else "DIFFER"
        lines.append(
            f"  {name}: {verdict}: {a['matched']} matched, {a['missed']} missed, {a['extra']} extra, "
            f"min IoU {a['min_iou']:.3f}, max conf diff {a['max_conf_diff']:.4f}"
        )
    if "switch" in report:
        sw = report["switch"]
        b, d, w = sw["eager_before"], sw["eager_during_cold_compile"], sw["eager_during_warm_compile"]
        s = sw["eager_during_worker_start"]
        line = f"a line at {sw['line_fps']:g} fps" if sw.get("line_fps") else "frames back to back"
        lines += [
            "",
            f"eager stream: {line}",
            f"compile worker start {sw['worker_start_s'] or 0:.1f} s (with the line, on a GPU): eager "
            f"{b.get('fps', 0):.0f} fps before, {s.get('fps', 0):.0f} meanwhile "
            f"({sw['fps_kept_worker_start']:.0%} kept)",
            f"switch to {sw['mode']}: eager "
            f"{d.get('fps', 0):.0f} fps during the cold compile ({sw['fps_kept']:.0%} kept), "
            f"frame gap p99 {d.get('gap_p99_ms', 0):.1f} ms, max {d.get('gap_max_ms', 0):.1f} ms",
        ]
        if sw["warm"]:
            lines.append(
                f"  warm compile on a started worker {sw['warm']['compile_s']:.1f} s, eager meanwhile "
                f"{w.get('fps', 0):.0f} fps ({sw['fps_kept_warm']:.0%} kept), "
                f"max gap {w.get('gap_max_ms', 0):.1f} ms"
            )
        if sw["error"]:
            lines.append(f"  {sw['error']}")
    return "\n".join(lines)
