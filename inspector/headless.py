"""``inspector run --headless``: the whole line without a window, ending in an honest summary."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from inspector.capture.base import capture_into
from inspector.capture.spec import open_source
from inspector.inference.backends import CompiledBackend, CompileError
from inspector.inference.devices import describe_device, resolve_device
from inspector.inference.engine import Engine
from inspector.inference.frame_pipeline import CompileProgress
from inspector.inference.model import load_detector, model_input_size
from inspector.inspection.rules import InspectionRules
from inspector.metrics import LatencyTracker
from inspector.pipeline import FrameSlot, InspectionResult, Inspector, capture_loop
from inspector.stop_signals import stop_signals_interrupt
from inspector.storage.database import open_database
from inspector.storage.queries import DefectFilter, count_defects
from inspector.storage.writer import DefectWriter, RunInfo

Say = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    source: str = "synthetic"
    weights: str = ""
    backend: str = "eager"
    mode: str = "reduce-overhead"
    device: str = "auto"
    imgsz: int | None = None
    frames: int | None = None
    seed: int = 0
    db: Path = Path("defects.sqlite")
    conf: float = 0.25
    iou: float = 0.7
    classes: frozenset[str] | None = None
    roi: tuple[float, float, float, float] | None = None
    loop: bool = False
    save_images: bool = True
    detections_out: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def run_headless(opts: RunOptions, say: Say = lambda m: print(m, file=sys.stderr)) -> dict[str, Any]:
    """Run the line and return the summary. Bad input raises the module's own error types
    (``SourceError``, ``ModelLoadError``, ``DeviceError``, ``StorageError``, ``ValueError``)."""
    device = resolve_device(opts.device)
    source = open_source(opts.source, seed=opts.seed, loop=opts.loop, on_status=say)
    model = load_detector(opts.weights, device)
    imgsz = model_input_size(model.network, opts.imgsz)
    rules = InspectionRules(opts.classes, opts.conf, opts.roi)
    db = open_database(opts.db)
    engine = Engine(model, imgsz=imgsz, conf=opts.conf, iou=opts.iou)

    writer = DefectWriter(db, Path(opts.db), save_images=opts.save_images, on_error=say).start()
    settings = {
        "imgsz": imgsz,
        "conf": opts.conf,
        "iou": opts.iou,
        "mode": opts.mode,
        "classes": sorted(opts.classes) if opts.classes else None,
        "roi": opts.roi,
        **opts.settings,
    }
    run_id = writer.begin_run(
        RunInfo(
            source.name,
            model.path,
            model.sha256,
            "eager" if opts.backend == "eager" else f"compiled ({opts.mode})",
            describe_device(device),
            settings,
        )
    )
    inspector = Inspector(engine, rules, writer, run_id, opts.save_images)
    latency = LatencyTracker()
    slot = FrameSlot(keep_latest=source.live)
    stop = threading.Event()
    capture = threading.Thread(target=capture_loop, args=(source, slot, stop), name="capture", daemon=True)
    # line-buffered: each frame's line is on disk as soon as the frame is done
    detections_file = (
        opts.detections_out.open("w", encoding="utf-8", buffering=1) if opts.detections_out else None
    )
    compiled = CompiledBackend(model, imgsz, opts.mode) if opts.backend == "compiled" else None
    if compiled is not None:
        capture_into(source, compiled.frame_pool)
        compiled.start()  # the worker imports torch and loads the model while the source opens
    started = time.perf_counter()
    compile_s = 0.0
    timed_frames = 0
    interrupted = False
    with stop_signals_interrupt():  # a kill or a closed terminal closes the run as Ctrl+C does
        try:
            capture.start()
            while opts.frames is None or inspector.frames < opts.frames:
                frame = slot.take(timeout=0.5)
                if frame is None:
                    if slot.closed:
                        break
                    continue
                if inspector.frames == 0 and compiled is not None:
                    compile_s = _switch_backend(engine, compiled, frame.height, frame.width, say)
                    started = time.perf_counter()  # rates and latencies describe the line, not the compile
                result = inspector.process(frame)
                if reason := engine.take_fallback():
                    say(f"{reason}; continuing on the eager backend")
                if frame.captured_at >= started:
                    for stage, ms in result.stage_ms().items():
                        latency.add(stage, ms)
                    timed_frames += 1
                if detections_file is not None:
                    _write_detections(detections_file, result, source.name)
        except KeyboardInterrupt as exc:
            interrupted = True
            say(f"stopped by {exc.args[0] if exc.args else 'SIGINT'}; finishing the run")
        finally:
            elapsed = time.perf_counter() - started
            stop.set()
            source.cancel()
            capture.join(timeout=10)
            if compiled is not None:
                compiled.close()
            if detections_file is not None:
                detections_file.close()
            writer.end_run(run_id, inspector.frames)
            writer.stop()
    if slot.error:
        say(slot.error)
    logged = count_defects(db, DefectFilter(run_id=run_id))
    db.dispose()
    return {
        "run_id": run_id,
        "frames": inspector.frames,
        "defects_logged": logged,
        "defects_detected": inspector.defects_logged,
        "frames_dropped": slot.dropped,
        "fps": round(timed_frames / elapsed, 2) if elapsed > 0 else 0.0,
        "compile_s": round(compile_s, 2),
        "latency_ms": latency.summary(),
        "backend": engine.backend.label,
        "device": describe_device(device),
        "model": model.path,
        "imgsz": imgsz,
        "source": source.name,
        "database": str(opts.db),
        "source_error": slot.error,
        "interrupted": interrupted,
    }


def _switch_backend(engine: Engine, backend: CompiledBackend, height: int, width: int, say: Say) -> float:
    """Compile for the source's frame size; on failure say why and stay on eager. Returns the
    seconds it took."""
    start = time.perf_counter()
    try:
        backend.prepare((height, width), progress=_progress_printer(say))
    except CompileError as exc:
        say(f"{exc}; continuing on the eager backend")
    else:
        engine.use(backend)
    return time.perf_counter() - start


def _write_detections(fh: IO[str], result: InspectionResult, source_name: str) -> None:
    fh.write(
        json.dumps(
            {
                "frame": result.frame.index,
                "source": source_name,
                "image": result.frame.image_path,
                "detections": [
                    {
                        "class": d.class_name,
                        "confidence": round(d.confidence, 4),
                        "x1": round(d.x1, 2),
                        "y1": round(d.y1, 2),
                        "x2": round(d.x2, 2),
                        "y2": round(d.y2, 2),
                    }
                    for d in result.detections
                ],
            }
        )
        + "\n"
    )


def _progress_printer(say: Say) -> Callable[[CompileProgress], None]:
    def report(p: CompileProgress) -> None:
        say(f"compile: {p.stage} ({p.fraction:.0%}, {p.elapsed_s:.1f} s) {p.detail}".rstrip())

    return report


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"run {summary['run_id']}: {summary['frames']} frames from {summary['source']}, "
        f"{summary['defects_logged']} defects logged to {summary['database']}",
        f"model {summary['model']} at {summary['imgsz']} px on {summary['device']}, "
        f"backend {summary['backend']}",
        f"{summary['fps']:.1f} frames/s, {summary['frames_dropped']} frames dropped"
        + (f", {summary['compile_s']:.1f} s spent compiling" if summary["compile_s"] else ""),
        "latency ms      p50      p95      p99",
    ]
    for stage, p in summary["latency_ms"].items():
        lines.append(f"  {stage:<10}{p['p50']:>9.2f}{p['p95']:>9.2f}{p['p99']:>9.2f}")
    return "\n".join(lines)
