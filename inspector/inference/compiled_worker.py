"""The compiled backend's own process: it loads the model, compiles, and then serves frames.

A ``torch.compile`` holds the interpreter lock for seconds at a time, which freezes every other
thread of its process (the live view included). Here it holds only this process's lock. Frames
lie in shared memory (captured there, or copied there by the parent) and only their row numbers
and the count of candidates cross the pipe.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import time
from multiprocessing.connection import Connection
from pathlib import Path

import torch
import torch.multiprocessing  # registers the reductions that share tensors through the pipe
from torch._inductor import config as inductor_config
from torch._inductor.async_compile import shutdown_compile_workers
from torch._inductor.runtime.cache_dir_utils import cache_dir as inductor_cache_dir

from inspector.inference import frame_pipeline, postprocess, preprocess
from inspector.inference import model as model_module
from inspector.inference.frame_pipeline import FramePipeline
from inspector.inference.model import DetectorModel, first_line, load_detector

SPIN_S = 0.002  # how long a side busy-polls the pipe before it blocks on it


def wait_readable(conn: Connection, spin_s: float = SPIN_S) -> None:
    """Busy-poll ``conn`` for up to ``spin_s``, so that a message due soon is read at once; the
    caller then reads (blocking only if nothing came). A process woken from a blocking read can
    answer hundreds of microseconds late on an idle core, more than a whole frame's GPU work."""
    deadline = time.perf_counter() + spin_s
    while not conn.poll() and time.perf_counter() < deadline:
        pass


def serve(conn: Connection, weights: str, device: str, imgsz: int, cache_dir: str | None) -> None:
    """The child's main loop; every failure becomes a message, never a silent exit."""
    if cache_dir:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache_dir
    try:
        model = load_detector(weights, torch.device(device))
    except Exception as exc:
        conn.send(("failed", f"compile worker could not load the model ({type(exc).__name__}: {exc})"))
        return
    if model.device.type == "cuda":
        _warm_up_compiler(model, imgsz)
    conn.send(("loaded",))
    pipeline: FramePipeline | None = None
    frames = out_buf = None
    pinned: list[torch.Tensor] = []  # page-locked for the GPU; unlocked before they are dropped
    while True:
        try:
            wait_readable(conn)  # at a line's rate that is one short spin per frame
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        kind = msg[0]
        if kind == "close":
            return
        if kind == "prepare":
            while pinned:
                _unpin(pinned.pop())
            _, mode, frames, batch, out_buf = msg
            pipeline = None
            frame_shape = tuple(frames.shape[1:3])
            done_before = compiled_marker(Path(inductor_cache_dir()), model, frame_shape, imgsz, mode, batch)
            try:
                pipeline = FramePipeline(model, frame_shape, imgsz, mode, frame=frames[:batch], batch=batch)
                with _in_process_compile() if done_before.exists() else contextlib.nullcontext():
                    saved = done_before.with_name(done_before.name + ".compiled")
                    pipeline.prepare(lambda p: conn.send(("progress", p)), saved)
            except Exception as exc:
                pipeline = None
                conn.send(("failed", f"torch.compile failed ({type(exc).__name__}: {first_line(exc)})"))
                continue
            finally:
                # A pool that a cold compile started is idle from here on: it goes, with the memory
                # its processes hold, before the first frame (its processes' exit costs seconds of
                # CPU on every core; frames served meanwhile took 8 ms instead of 1.5 on an H100 host)
                shutdown_compile_workers()
            done_before.parent.mkdir(parents=True, exist_ok=True)
            done_before.touch()
            if model.device.type == "cuda":
                for buf in (frames, out_buf):
                    _pin(buf)
                    pinned.append(buf)
            conn.send(("ready", pipeline.cache_hit))
        elif kind == "frame":
            try:
                start = time.perf_counter()
                n = _infer(pipeline, frames, msg[1], out_buf, msg[2])
                conn.send(("done", n, (time.perf_counter() - start) * 1e3))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {first_line(exc)}"))


def _warm_up_compiler(model: DetectorModel, imgsz: int) -> None:
    """Pay the one-time costs of a process before anyone waits on a compile: Dynamo, Inductor and
    Triton import on a trivial function; cuDNN initialises on one eager forward. A worker started
    ahead (as the station starts it) then only compiles."""
    with torch.inference_mode(), _in_process_compile():
        x = torch.zeros((1, 3, imgsz, imgsz), device=model.device, dtype=model.dtype)
        model.network(x)
        torch.compile(lambda t: (t * 2).sum(), fullgraph=True)(x[0, 0, :8, :8])
        torch.cuda.synchronize(model.device)


def _in_process_compile() -> contextlib.AbstractContextManager:
    """Inductor without its pool of compile-worker processes. Loading kernels from a warm cache
    needs none, and the pool costs seconds of CPU on every core to start and to end; a cold compile
    wants it (yolov8n on an H100 host: 20 s with the pool, 45 s without)."""
    return inductor_config.patch(compile_threads=1)


def compiled_marker(
    cache_root: Path, model: DetectorModel, frame_shape: tuple[int, ...], imgsz: int, mode: str, batch: int
) -> Path:
    """A file in Inductor's cache folder ``cache_root`` that says this cache holds this compile
    already, so the next one is warm; the compiled function is saved beside it. The name covers
    everything the function depends on, the code that builds it included (a saved function keeps
    the code it was traced from). Cleared with the cache; a stale one only makes a compile slower."""
    device = torch.cuda.get_device_name(model.device) if model.device.type == "cuda" else "cpu"
    weights = model.sha256 or model.path
    code = _frame_function_code()
    key = (weights, frame_shape, batch, imgsz, mode, model.dtype, device, torch.__version__, code)
    name = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    return cache_root / "inspector-compiled" / name


@functools.cache
def _frame_function_code() -> str:
    """A digest of the code that makes up the compiled frame function: these modules and the
    ultralytics release (the network's own code); read once per process."""
    digest = hashlib.sha256(importlib.metadata.version("ultralytics").encode())
    for module in (frame_pipeline, postprocess, preprocess, model_module):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def _infer(
    pipeline: FramePipeline | None,
    frames: torch.Tensor,
    rows: list[int],
    out_buf: torch.Tensor,
    thresholds: tuple[float, float],
) -> int:
    """Run the frames in ``rows`` of the shared ``frames``; on the CPU the first rows are the
    pipeline's own input, so a frame copied there by the parent is not copied again."""
    if pipeline is None:
        raise RuntimeError("no compiled pipeline is ready")
    with torch.inference_mode():
        pipeline.set_thresholds(*thresholds)
        for target, row in zip(pipeline.frame, rows, strict=True):
            source = frames[row]
            if target.data_ptr() != source.data_ptr():
                target.copy_(source, non_blocking=True)
        out = pipeline()
        out_buf[:, : out.shape[1]].copy_(out, non_blocking=True)
        if out.is_cuda:
            torch.cuda.current_stream(out.device).synchronize()
    return out.shape[1]


def _pin(buf: torch.Tensor) -> None:
    """Page-lock the shared buffer so copies to and from the GPU run as DMA, without staging."""
    torch.cuda.cudart().cudaHostRegister(buf.data_ptr(), buf.numel() * buf.element_size(), 0)


def _unpin(buf: torch.Tensor) -> None:
    """Undo ``_pin`` before the buffer is dropped, so its pages can be unmapped."""
    torch.cuda.cudart().cudaHostUnregister(buf.data_ptr())
