"""``inspector bench --streams N``: N cameras of 1080p frames, each at a frame rate, through one line.

The frames are rendered once (one core renders far fewer 1080p frames a second than many cameras
show: docs/PERFORMANCE.md) and each camera replays them at its rate from its own phase, writing
every frame into the compiled backend's shared pool as a camera's decoder would. The line is the
station's own (``Station.build_line``): each pass takes the newest frame of every camera that has
one and runs them as one batch. Beside it, per N: ultralytics' ``predict`` on a list of N frames,
and the floor (the compiled forward alone at batch N), and the line's backend on full batches of N
to compare with it; and what decoding the cameras' H.264 would
cost this host's CPU.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from inspector.capture.base import Frame, FrameBuffers, make_frame
from inspector.inference.backends import CompiledBackend
from inspector.inference.engine import Engine
from inspector.inference.frame_pool import FramePool
from inspector.inference.model import load_detector
from inspector.inference.preprocess import letterbox_geometry
from inspector.lab.bench import (
    BenchOptions,
    Say,
    bench_batches,
    bench_frames,
    forward_floor,
    model_facts,
    time_interleaved,
    ultralytics_predict,
)
from inspector.line.config import LineConfig
from inspector.line.line import Line
from inspector.line.station import Station

log = logging.getLogger(__name__)

WARM_S = 2.0  # after the compile, before the timed stretch: pools, graphs and threads settle
# what each camera replays: 3 s of the line's frames in a row, so its tracker follows parts as they
# move on a belt (a short loop would have every part jump back, and be lost and found, each time round)
REPLAY_FRAMES = 90
OURS = "inspector compiled"  # the line's backend on full batches, beside the floor


class ReplayCamera:
    """A live camera that shows ``frames`` in turn at ``fps``, its first frame ``phase_s`` late,
    each one copied into a pool buffer where the line has one (a decoder's write)."""

    live = True

    def __init__(self, name: str, frames: list[np.ndarray], fps: float, phase_s: float) -> None:
        self.name = name
        self.frames = frames
        self.period = 1.0 / fps
        self.phase_s = phase_s
        self.frame_pool: FrameBuffers | None = None
        self._cancel = threading.Event()
        self._due = 0.0
        self._index = 0

    def open(self) -> None:
        self._cancel.clear()
        self._due = time.perf_counter() + self.phase_s
        self._index = 0

    def read(self) -> Frame | None:
        delay = self._due - time.perf_counter()
        if (delay > 0 and self._cancel.wait(delay)) or self._cancel.is_set():
            return None
        self._due += self.period
        image = self.frames[self._index % len(self.frames)]
        buffer = self.frame_pool.acquire(image.shape) if self.frame_pool is not None else None
        if buffer is None:
            buffer = np.empty_like(image)
        np.copyto(buffer, image)
        frame = make_frame(buffer, self._index)
        self._index += 1
        return frame

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        pass


def measure_streams(
    opts: BenchOptions,
    counts: tuple[int, ...],
    fps: float,
    seconds: float,
    mode: str,
    say: Say,
    rounds: int = 1,
) -> dict[str, Any]:
    """Each count of cameras through the line for ``rounds`` stretches of ``seconds``, and the
    contenders beside it."""
    model = load_detector(opts.weights, opts.device)
    frames = bench_frames(opts.frame_width, opts.frame_height, count=REPLAY_FRAMES, step=1)
    input_hw = letterbox_geometry(opts.frame_height, opts.frame_width, opts.imgsz, model.stride).input
    report: dict[str, Any] = {
        **model_facts(opts, model, input_hw),
        "frame": f"{opts.frame_width}x{opts.frame_height}",
        "stream_fps": fps,
        "seconds": seconds,
        "rounds": rounds,
        "mode": mode,
        "streams": {},
        "beside": {},
    }
    config = LineConfig(
        weights=opts.weights,
        device=str(opts.device),
        imgsz=opts.imgsz,
        backend="compiled",
        mode=mode,
        save_images=False,
        draw_confidence=opts.conf,
        iou=opts.iou,
        tracking_processes=opts.tracking_processes,
    )
    with tempfile.TemporaryDirectory(prefix="inspector-streams-") as folder:
        station = Station(Path(folder) / "streams.sqlite")
        try:
            for n in counts:
                timed = f"{rounds} x {seconds:g} s" if rounds > 1 else f"{seconds:g} s"
                say(f"{n} cameras at {fps:g} frames/s: compiling for a batch of {n}, then {timed}")
                report["streams"][str(n)] = _timed(station, config, frames, n, fps, seconds, rounds)
        finally:
            station.close()
    for n in counts:
        say(f"beside {n} cameras: the line's backend on full batches, ultralytics predict, the floor")
        report["beside"][str(n)] = _beside(opts, model, frames, input_hw, n, mode)
    report["decode"] = decode_cost(frames, say)
    return report


def _timed(
    station: Station,
    config: LineConfig,
    frames: list[np.ndarray],
    n: int,
    fps: float,
    seconds: float,
    rounds: int = 1,
) -> dict[str, Any]:
    """A line of ``n`` replay cameras, run until its compile is done and it settled, then timed for
    ``rounds`` stretches of ``seconds``; the cameras' phases spread their frames evenly over a frame
    period. The first level gives the worst stretch (the least rate, the most drops, the highest
    p99); ``rounds`` each one. It holds when every stretch held."""
    cameras = [(f"cam{i + 1}", ReplayCamera(f"replay {i + 1}", frames, fps, i / (n * fps))) for i in range(n)]
    samples = int(n * fps * (seconds + WARM_S) * 1.5) + 1000  # every frame of a timed stretch
    line = station.build_line(config, wait_for_compile=True, sources=cameras, latency_samples=samples)
    runner = threading.Thread(target=line.run, name="streams-line", daemon=True)
    runner.start()
    stretches = []
    try:
        while line.stats.timed_frames == 0 and runner.is_alive():
            time.sleep(0.05)
        time.sleep(WARM_S)
        for _ in range(rounds):
            stretches.append(_stretch(line, fps, seconds))
        used = _gpu_memory_used_mib(line)
    finally:
        line.stop()
        runner.join(30)
        line.close()
    worst = {
        "fps_per_stream_min": min(r["fps_per_stream_min"] for r in stretches),
        "fps_per_stream_mean": min(r["fps_per_stream_mean"] for r in stretches),
        "frames": sum(r["frames"] for r in stretches),
        "dropped": sum(r["dropped"] for r in stretches),
        "capture_to_result_p50_ms": max(r["capture_to_result_p50_ms"] for r in stretches),
        "capture_to_result_p99_ms": max(r["capture_to_result_p99_ms"] for r in stretches),
        "stage_p50_ms": stretches[-1]["stage_p50_ms"],
        "holds": all(r["holds"] for r in stretches),
    }
    return {
        **worst,
        "backend": line.engine.backend.label,
        "tracking_processes": len(line.book_processes),
        "gpu_memory_used_mib": used,
        "rounds": stretches,
    }


def _stretch(line: Line, fps: float, seconds: float) -> dict[str, Any]:
    """One timed stretch of a running line: each camera's rate, the drops, the latencies."""
    before = [(c.inspector.frames, c.slot.dropped) for c in line.cameras]
    line.stats.restart()
    started = time.perf_counter()
    time.sleep(seconds)
    after = [(c.inspector.frames, c.slot.dropped) for c in line.cameras]
    elapsed = time.perf_counter() - started
    latency = line.stats.latency
    counted = [a[0] - b[0] for a, b in zip(after, before, strict=True)]
    rates = [n / elapsed for n in counted]
    dropped = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
    total = latency.percentiles("total", (50, 99))  # nan when no frame came through: it does not hold
    stages = {s: round(latency.percentiles(s, (50,))["p50"], 3) for s in ("pre", "infer", "post")}
    return {
        "fps_per_stream_min": round(min(rates), 2),
        "fps_per_stream_mean": round(sum(rates) / len(rates), 2),
        "frames": sum(counted),
        "dropped": dropped,
        "capture_to_result_p50_ms": round(total["p50"], 2),
        "capture_to_result_p99_ms": round(total["p99"], 2),
        "stage_p50_ms": stages,
        "holds": dropped == 0 and total["p99"] <= 1000.0 / fps and min(rates) >= 0.98 * fps,
    }


def _gpu_memory_used_mib(line: Line) -> float | None:
    """Memory in use on the line's GPU, every process's (the compiled worker's is not this one's)."""
    device = line.model.device
    if device.type != "cuda":
        return None
    free, total = torch.cuda.mem_get_info(device)
    return round((total - free) / 2**20, 1)


def _beside(
    opts: BenchOptions, model, frames: list[np.ndarray], input_hw: tuple[int, int], n: int, mode: str
) -> dict:
    """Per call of ``n`` frames: the line's compiled backend on a full batch (its frames in the
    worker's pool, as the cameras put them), ultralytics' ``predict`` on the list, and the floor."""
    backend = CompiledBackend(model, opts.imgsz, mode, pool_slots=len(frames))
    try:
        backend.prepare(frames[0].shape[:2], batch=n)  # the line's compile, from the cache it left
        engine = Engine(model, imgsz=opts.imgsz, conf=opts.conf, iou=opts.iou)
        engine.use(backend)
        pooled = dict(zip(map(id, frames), _pooled(frames, backend.frame_pool), strict=True))
        contenders = {OURS: lambda batch: engine.detect_batch([pooled[id(f)] for f in batch])}
        contenders["floor"] = forward_floor(model, input_hw, n)
        if opts.ultralytics:
            contenders["ultralytics predict"] = ultralytics_predict(opts, None)
        batches = bench_batches(frames, n)
        iters = max(5, min(opts.iters, 2000 // n))
        stats, _ = time_interleaved(contenders, batches, iters, warmup=3, rounds=1)
    finally:
        backend.close()
    return {name: {"p50_ms": s["p50"], "fps": s["fps"]} for name, s in stats.items()}


def _pooled(frames: list[np.ndarray], pool: FramePool) -> list[np.ndarray]:
    """``frames`` copied into slots of ``pool``, as a camera's decoder writes them."""
    pooled = [pool.acquire(frame.shape) for frame in frames]
    for slot, frame in zip(pooled, frames, strict=True):
        slot[...] = frame
    return pooled


def decode_cost(frames: list[np.ndarray], say: Say) -> dict[str, Any]:
    """What decoding a camera's stream costs the host: OpenCV's decode (what reads an RTSP camera)
    of an H.264 file of ``frames`` on one thread, per frame, in wall and CPU time. The file is
    written by OpenCV where its build encodes H.264, else by PyAV's libx264 (the ``bench`` extra),
    else MPEG-4 Part 2 stands in, and the report says which."""
    repeats = max(1, -(-64 // len(frames)))  # at least 64 frames decoded
    stream = [image for _ in range(repeats) for image in frames]
    with tempfile.TemporaryDirectory(prefix="inspector-decode-") as folder:
        written = _encode(stream, Path(folder))
        if written is None:
            return {"error": "neither OpenCV nor PyAV here encodes H.264 or MPEG-4"}
        path, codec, encoder = written
        height, width = frames[0].shape[:2]
        say(f"decoding {len(stream)} frames of {codec} ({encoder}) at {width}x{height} with OpenCV")
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        decoded, start, cpu = 0, time.perf_counter(), time.process_time()
        while capture.read()[0]:
            decoded += 1
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        capture.release()
    if not decoded:
        return {"error": f"OpenCV could not read back the {codec} file it was given"}
    return {
        "codec": codec,
        "encoder": encoder,
        "frames": decoded,
        "ms_per_frame_one_thread": round(elapsed * 1e3 / decoded, 2),
        "cpu_ms_per_frame": round(cpu * 1e3 / decoded, 2),
    }


def _encode(stream: list[np.ndarray], folder: Path) -> tuple[Path, str, str] | None:
    """``stream`` as a 30 frames/s file: (its path, codec, what wrote it), H.264 where possible."""
    return (
        _encode_opencv(stream, folder / "avc1.mp4", "avc1", "H.264")
        or _encode_h264_pyav(stream, folder / "pyav.mp4")
        or _encode_opencv(stream, folder / "mp4v.mp4", "mp4v", "MPEG-4 Part 2")
    )


def _encode_opencv(
    stream: list[np.ndarray], path: Path, fourcc: str, codec: str
) -> tuple[Path, str, str] | None:
    height, width = stream[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 30.0, (width, height))
    opened = writer.isOpened()
    if opened:
        for image in stream:
            writer.write(image)
    writer.release()
    return (path, codec, "OpenCV") if opened else None


def _encode_h264_pyav(stream: list[np.ndarray], path: Path) -> tuple[Path, str, str] | None:
    """H.264 as a camera sends it (a key frame a second, no B-frames) by PyAV's libx264, if here."""
    try:
        import av
    except ImportError:
        return None
    height, width = stream[0].shape[:2]
    try:
        with av.open(str(path), "w") as out:
            video = out.add_stream("libx264", rate=30)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.options = {"preset": "veryfast", "g": "30", "bf": "0"}
            for image in stream:
                out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
            out.mux(video.encode())
    except (av.FFmpegError, ValueError) as exc:
        log.info("PyAV could not write H.264 here: %s", exc)
        return None
    return path, "H.264", f"PyAV {av.__version__} libx264"


def _row(r: dict[str, Any]) -> str:
    """A timed stretch's rate, drops, latencies and stages, as the table's columns."""
    s = r["stage_p50_ms"]
    return (
        f"{r['fps_per_stream_min']:>16.2f}  {r['dropped']:>7}  "
        f"{r['capture_to_result_p50_ms']:>12.2f} / {r['capture_to_result_p99_ms']:<12.2f} "
        f"{s['pre']:>7.2f}/{s['infer']:.2f}/{s['post']:.2f}  "
    )


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def format_streams(report: dict[str, Any]) -> str:
    fps = report["stream_fps"]
    period = 1000.0 / fps
    lines = [
        f"{report['model']} ({report['dtype']}) on {report['device']}, {report['frame']} frames at "
        f"{report['model_input']}, compiled mode {report['mode']}, every camera at {fps:g} frames/s, "
        + (
            f"{rounds} stretches of {report['seconds']:g} s timed on one running line (the worst, then each)"
            if (rounds := report.get("rounds", 1)) > 1
            else f"{report['seconds']:g} s timed"
        ),
        "cameras  fps/camera (min)  dropped  capture->result p50/p99 ms  pre/infer/post p50 ms  "
        f"GPU MiB  tracking processes  holds (no drop, p99 <= {period:.1f} ms)",
    ]
    for n, r in report["streams"].items():
        lines.append(
            f"{n:>7}  {_row(r)}{_mib(r['gpu_memory_used_mib']):>9}  {r['tracking_processes']:>18}  "
            f"{'yes' if r['holds'] else 'no'}"
        )
        if len(r["rounds"]) > 1:
            lines += [
                f"{'':>7}  {_row(x)}{'':>9}  {'':>18}  {'yes' if x['holds'] else 'no'}" for x in r["rounds"]
            ]
    held = [int(n) for n, r in report["streams"].items() if r["holds"]]
    lines.append(f"largest number of cameras held: {max(held) if held else 'none'}")
    lines.append(f"per call of N frames     p50 ms    frames/s   / floor ({OURS} on full batches)")
    for n, b in report["beside"].items():
        floor = b["floor"]["p50_ms"]
        for name, v in b.items():
            ratio = f"{v['p50_ms'] / floor:.2f}x" if name == OURS and floor else ""
            lines.append(f"  N={n:<4} {name:<20}{v['p50_ms']:>8.2f}{v['fps']:>11.0f}   {ratio}")
    d = report["decode"]
    if "error" in d:
        lines.append(f"decode: {d['error']}")
    else:
        cores = d["cpu_ms_per_frame"] * fps / 1000.0
        lines.append(
            f"decode ({d['codec']}, written by {d['encoder']}; OpenCV, one thread): "
            f"{d['ms_per_frame_one_thread']:.2f} ms per frame, {d['cpu_ms_per_frame']:.2f} ms of CPU, "
            f"so one camera at {fps:g} frames/s takes {cores:.3f} of a core"
        )
    return "\n".join(lines)
