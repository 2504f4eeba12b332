"""``inspector run --headless``: the whole line without a window, ending in an honest summary."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from inspector.errors import ConfigError
from inspector.line.config import LineConfig
from inspector.line.station import Station
from inspector.line.switch import FAILED, FELL_BACK, PROGRESS, SwitchEvent
from inspector.pipeline import InspectionResult
from inspector.stop_signals import stop_signals_interrupt
from inspector.storage.queries import DefectFilter, count_defects

Say = Callable[[str], None]


def run_headless(
    config: LineConfig,
    db_path: Path,
    frames: int | None = None,
    detections_out: Path | None = None,
    say: Say = lambda m: print(m, file=sys.stderr),
) -> dict[str, Any]:
    """Run the line and return the summary. Bad input raises an ``InspectorError``."""
    detections_file = _open_detections(detections_out) if detections_out else None
    station = Station(db_path, on_message=say)
    interrupted = False
    try:
        line = station.build_line(config, on_status=say, wait_for_compile=True)
        line.switch.subscribe(_switch_reporter(say))

        def on_result(result: InspectionResult) -> None:
            if detections_file is not None:
                _write_detections(detections_file, result, line.source.name)

        with stop_signals_interrupt():  # a kill or a closed terminal closes the run as Ctrl+C does
            try:
                error = line.run(frames, on_result)
            except KeyboardInterrupt as exc:
                interrupted = True
                error = line.slot.error
                say(f"stopped by {exc.args[0] if exc.args else 'SIGINT'}; finishing the run")
            finally:
                line.close()
        station.writer.flush()
    finally:
        if detections_file is not None:
            detections_file.close()
        station.writer.stop()
    if error:
        say(error)
    logged = count_defects(station.db, DefectFilter(run_id=line.run_id))
    station.db.dispose()
    return {
        "run_id": line.run_id,
        "frames": line.inspector.frames,
        "defects_logged": logged,
        "defects_detected": line.inspector.defects_logged,
        "frames_dropped": line.slot.dropped,
        "fps": round(line.stats.fps(), 2),
        "compile_s": round(line.compile_s, 2),
        "latency_ms": line.stats.latency.summary(),
        "backend": line.engine.backend.label,
        "device": line.device_name,
        "model": line.model.path,
        "imgsz": line.engine.imgsz,
        "source": line.source.name,
        "database": str(db_path),
        "source_error": error,
        "interrupted": interrupted,
    }


def _open_detections(path: Path) -> IO[str]:
    """Opened before the run begins, so a bad path costs no run; line-buffered, so each frame's
    line is on disk as soon as the frame is done."""
    try:
        return path.open("w", encoding="utf-8", buffering=1)
    except OSError as exc:
        raise ConfigError(f"cannot write the detections file {path}: {exc.strerror or exc}") from exc


def _switch_reporter(say: Say) -> Callable[[SwitchEvent], None]:
    """The compile's stages, and a failure or fallback, as lines on stderr."""

    def report(event: SwitchEvent) -> None:
        p = event.progress
        if event.kind == PROGRESS and p is not None:
            say(f"compile: {p.stage} ({p.fraction:.0%}, {p.elapsed_s:.1f} s) {p.detail}".rstrip())
        elif event.kind in (FAILED, FELL_BACK):
            say(f"{event.detail}; continuing on the eager backend")

    return report


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
