"""``inspector run --headless``: the whole line without a window, ending in an honest summary."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from inspector.errors import ConfigError
from inspector.inspection.parts import PartVerdict
from inspector.line.config import LineConfig
from inspector.line.recipes import Recipe
from inspector.line.station import Station
from inspector.line.stats import LineStats
from inspector.line.switch import FAILED, FELL_BACK, PROGRESS, SwitchEvent
from inspector.outputs.config import OutputsConfig
from inspector.outputs.messages import part_json
from inspector.pipeline import InspectionResult
from inspector.stop_signals import stop_signals_interrupt
from inspector.storage.queries import DefectFilter, count_defects
from inspector.storage.retention import DiskBudget

Say = Callable[[str], None]


def run_headless(
    config: LineConfig,
    db_path: Path,
    frames: int | None = None,
    detections_out: Path | None = None,
    say: Say = lambda m: print(m, file=sys.stderr),
    parts_out: Path | None = None,
    plant: OutputsConfig | None = None,
    recipes: Mapping[int, Recipe] | None = None,
    recipe: int | None = None,
    budget: DiskBudget | None = None,
) -> dict[str, Any]:
    """Run the line and return the summary. Bad input raises an ``InspectorError``."""
    detections_file = _Output(detections_out, "detections") if detections_out else None
    parts_file = _Output(parts_out, "parts") if parts_out else None
    outputs = [out for out in (detections_file, parts_file) if out is not None]
    station = Station(db_path, on_message=say, outputs=plant, recipes=recipes, budget=budget)
    if recipe is not None:
        station.choose_recipe(recipe)
    interrupted: str | None = None  # the stop signal's name
    try:
        line = station.build_line(config, on_status=say, wait_for_compile=True, check_source=True)
        line.switch.subscribe(_switch_reporter(say))
        for out in outputs:
            out.on_error = line.stop  # an output that cannot be written ends the run, closed as ever

        source_of = {camera.name: camera.source.name for camera in line.cameras}

        def on_result(result: InspectionResult) -> None:
            if detections_file is not None:
                _write_detections(detections_file, result, source_of[result.camera])
            _write_parts(parts_file, result.decided)

        with stop_signals_interrupt():  # a kill or a closed terminal closes the run as Ctrl+C does
            try:
                error = line.run(frames, on_result)
            except KeyboardInterrupt as exc:
                interrupted = exc.args[0] if exc.args else "SIGINT"
                error = line.error
                say(f"stopped by {interrupted}; finishing the run")
            finally:
                _write_parts(parts_file, line.close())  # the parts still in view are decided
        station.writer.flush()
    finally:
        for out in outputs:
            out.close()
        station.outputs.close()
        station.writer.stop()
    output_error = next((out.error for out in outputs if out.error), None)
    for message in (error, output_error):
        if message:
            say(message)
    logged = count_defects(station.db, DefectFilter(run_id=line.run_id))
    station.db.dispose()
    return {
        "run_id": line.run_id,
        "frames": line.frames,
        "defects_logged": logged,
        "defects_detected": line.defects_logged,
        "defects_dropped": station.writer.pending,  # rows the log could not take by the end
        "images_skipped": station.writer.images_skipped,
        "images_behind": station.writer.images_behind,
        "frames_dropped": line.dropped,
        "fps": round(line.stats.fps(), 2),  # every camera's frames
        "compile_s": round(line.compile_s, 2),
        "latency_ms": line.stats.latency.summary(),
        "backend": line.engine.backend.label,
        "tracking_processes": len(line.book_processes),
        "device": line.device_name,
        "model": line.model.path,
        "model_sha256": line.model.sha256,
        "imgsz": line.engine.imgsz,
        "source": line.source_name,
        "database": str(db_path),
        "source_error": error,
        "output_error": output_error,
        "interrupted": interrupted is not None,
        "stopped_by": interrupted,
        "part_classes": sorted(line.part_classes),
        "recipe": line.recipe.label if line.recipe else None,
        **_parts(line.stats),
        "cameras": {
            camera.name: {
                "source": camera.source.name,
                "frames": camera.inspector.frames,
                "frames_dropped": camera.slot.dropped,
                "fps": round(camera.stats.fps(), 2),
                "source_error": camera.slot.error,
                **_parts(camera.stats),
            }
            for camera in line.cameras
        },
    }


def _parts(stats: LineStats) -> dict[str, Any]:
    return {
        "parts": stats.parts,
        "parts_ok": stats.parts_ok,
        "parts_ng": stats.parts_ng,
        "yield": round(stats.parts_ok / stats.parts, 4) if stats.parts else None,
        "ng_by_class": dict(stats.ng_by_class),
    }


class _Output:
    """A file the run writes a line to per frame or part. Opened before the run begins, so a bad
    path costs no run; line-buffered, so each line is on disk as soon as it is done. The first
    line it cannot write (a full disk) is its ``error`` and calls ``on_error`` (the run stops,
    and is closed with every defect logged as ever)."""

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what
        self.error: str | None = None
        self.on_error: Callable[[], object] = lambda: None
        try:
            self._fh = path.open("w", encoding="utf-8", buffering=1)
        except OSError as exc:
            raise ConfigError(f"cannot write the {what} file {path}: {exc.strerror or exc}") from exc

    def write(self, text: str) -> None:
        if self.error is None:
            try:
                self._fh.write(text)
            except OSError as exc:
                self._failed(exc)

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        if self.error is None:
            self.error = f"cannot write the {self.what} file {self.path}: {exc.strerror or exc}"
            self.on_error()


def _write_parts(fh: _Output | None, parts: Sequence[PartVerdict]) -> None:
    if fh is not None:
        for part in parts:
            fh.write(json.dumps(part_json(part)) + "\n")


def _switch_reporter(say: Say) -> Callable[[SwitchEvent], None]:
    """The compile's stages, and a failure or fallback, as lines on stderr."""

    def report(event: SwitchEvent) -> None:
        p = event.progress
        if event.kind == PROGRESS and p is not None:
            fraction, left = p.estimate(p.elapsed_s)
            say(f"compile: {p.stage} ({fraction:.0%}, {p.elapsed_s:.1f} s, {left}) {p.detail}".rstrip())
        elif event.kind in (FAILED, FELL_BACK):
            say(f"{event.detail}; continuing on the eager backend")

    return report


def _write_detections(fh: _Output, result: InspectionResult, source_name: str) -> None:
    fh.write(
        json.dumps(
            {
                "frame": result.frame.index,
                "camera": result.camera,
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
        f"backend {summary['backend']}"
        + (f", parts followed in {n} processes" if (n := summary["tracking_processes"]) else ""),
        _parts_line(summary),
        f"{summary['fps']:.1f} frames/s, {summary['frames_dropped']} frames dropped"
        + (f", {summary['compile_s']:.1f} s spent compiling" if summary["compile_s"] else ""),
    ]
    if summary["images_skipped"]:
        below = summary["images_skipped"] - summary["images_behind"]
        if below:
            lines.append(f"{below} defect images not saved: free space below the disk budget")
        if summary["images_behind"]:
            lines.append(
                f"{summary['images_behind']} defect images not saved: the defect log fell behind the line"
            )
    if summary["defects_dropped"]:
        lines.append(f"{summary['defects_dropped']} defects could not be written to the log")
    cameras = summary["cameras"]
    if len(cameras) > 1:
        for name, c in cameras.items():
            lines.append(
                f"  {name}: {c['frames']} frames ({c['fps']:.1f}/s, {c['frames_dropped']} dropped) "
                f"from {c['source']}; "
                + _parts_line({**c, "part_classes": summary["part_classes"]})
                + (f"; {c['source_error']}" if c["source_error"] else "")
            )
    lines.append("latency ms      p50      p95      p99")
    for stage, p in summary["latency_ms"].items():
        lines.append(f"  {stage:<10}{p['p50']:>9.2f}{p['p95']:>9.2f}{p['p99']:>9.2f}")
    return "\n".join(lines)


def _parts_line(summary: dict[str, Any]) -> str:
    if not summary["part_classes"]:
        return "no part class in the model: defects were counted, not parts"
    if not summary["parts"]:
        return "no part was decided"
    by_class = ", ".join(f"{c} {n}" for c, n in sorted(summary["ng_by_class"].items()))
    return (
        f"{summary['parts']} parts: {summary['parts_ok']} OK, {summary['parts_ng']} NG"
        f" (yield {summary['yield']:.1%})" + (f"; NG for {by_class}" if by_class else "")
    )
