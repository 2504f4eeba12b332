"""What following parts costs per frame: the part book fed as the station feeds it, on a line wide
enough to hold about ten parts at once, with detections drawn from the line's own truth."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from inspector.capture.synthetic import SyntheticConveyor
from inspector.detections import Detection
from inspector.inspection.book_process import BookProcess
from inspector.inspection.parts import DEFAULT_PART_CLASSES, PartBook, PartsConfig
from inspector.inspection.rules import InspectionRules
from inspector.lab.bench import latency_stats
from inspector.lab.synth_dataset import LINE_CLASSES

WIDE = (3840, 720)  # three demo views side by side: ~10 parts in view


def line_detections(frames: int, seed: int = 0, miss: float = 0.05) -> list[list[Detection]]:
    """Each frame's parts and defects as a good detector reports them: the truth boxes cut by the
    frame, confidences near 0.9, one box in ``1/miss`` missed."""
    line = SyntheticConveyor(seed=seed, width=WIDE[0], height=WIDE[1], fps=0)
    rng = np.random.default_rng(seed)
    ids = {name: i for i, name in enumerate(LINE_CLASSES)}
    out: list[list[Detection]] = []
    spans = line.part_spans(frames)
    for index in range(frames):
        dets = []
        for span in spans:
            if not span.in_view[0] <= index <= span.in_view[1]:
                continue
            part, defects = line.part_boxes(span.part_id, index)
            for box in (part, *defects):
                x1, x2 = max(0.0, box.x1), min(float(WIDE[0]), box.x2)
                if x2 - x1 < 4 or rng.random() < miss:
                    continue
                conf = float(np.clip(rng.normal(0.88, 0.04), 0.3, 0.99))
                dets.append(Detection(ids[box.class_name], box.class_name, conf, x1, box.y1, x2, box.y2))
        out.append(dets)
    return out


def measure_tracking(frames: int = 2000, warmup: int = 200, seed: int = 0) -> dict[str, Any]:
    """Milliseconds per frame of ``PartBook.update`` (tracking, assigning defects, deciding
    parts, keeping each part's picture), timed over ``frames`` frames after ``warmup``."""
    stream = line_detections(frames + warmup, seed)
    image = np.zeros((WIDE[1], WIDE[0], 3), np.uint8)
    defects = frozenset(LINE_CLASSES) - frozenset(DEFAULT_PART_CLASSES)
    rules = InspectionRules(defects, 0.5)
    config = PartsConfig(frozenset(DEFAULT_PART_CLASSES))
    book = PartBook(config)
    ms, in_view, decided = [], [], 0
    for index, dets in enumerate(stream):
        start = time.perf_counter()
        done, view = book.update(index, dets, rules, image, float(index))
        if index >= warmup:
            ms.append((time.perf_counter() - start) * 1e3)
            in_view.append(len(view))
            decided += len(done)
    return {
        "frame": f"{WIDE[0]}x{WIDE[1]}",
        "frames": frames,
        "parts_in_view_mean": round(float(np.mean(in_view)), 1),
        "parts_in_view_max": int(max(in_view)),
        "parts_decided": decided,
        "ms_per_frame": latency_stats(ms),
        "station_cpu_us_per_frame": _station_cost(config, stream[warmup:], rules, image),
    }


def _station_cost(
    config: PartsConfig, stream: list[list[Detection]], rules: InspectionRules, image: np.ndarray
) -> dict[str, float]:
    """Microseconds of the station's own CPU per frame (its process's, not the book process's):
    with the book here, and with the book in a process of its own, where the station pays for
    sending each frame's detections, taking the answer and cutting the pictures."""
    here = PartBook(config)
    started = time.process_time()
    for index, dets in enumerate(stream):
        here.update(index, dets, rules, image, float(index))
    cost = {"book here": (time.process_time() - started) / len(stream) * 1e6}
    process = BookProcess([config], keep_images=True)
    try:
        process.wait_ready()
        (book,) = process.books
        size = (image.shape[1], image.shape[0])
        started = time.process_time()
        for index, dets in enumerate(stream):
            book.ask(index, dets, rules, size, float(index))
            book.update(index, dets, rules, image, float(index))
        cost["book in a process"] = (time.process_time() - started) / len(stream) * 1e6
    finally:
        process.close()
    return {name: round(us, 1) for name, us in cost.items()}


def format_tracking(report: dict[str, Any]) -> str:
    ms, cost = report["ms_per_frame"], report["station_cpu_us_per_frame"]
    return (
        f"following parts (tracking, defects, verdicts): {report['parts_in_view_mean']:.1f} parts in view "
        f"(max {report['parts_in_view_max']}) on {report['frame']}, {report['frames']} frames: "
        f"p50 {ms['p50']:.3f} ms, p95 {ms['p95']:.3f} ms, p99 {ms['p99']:.3f} ms per frame\n"
        f"the station's own CPU per frame: {cost['book here']:.1f} us with the part book in its process, "
        f"{cost['book in a process']:.1f} us with the book in a process of its own"
    )
