"""The compiled backend's own process: it loads the model, compiles, and then serves frames.

A ``torch.compile`` holds the interpreter lock for seconds at a time, which freezes every other
thread of its process (the live view included). Here it holds only this process's lock. Frames
arrive in shared memory and a few bytes cross the pipe each way, so a frame costs the parent one
memory copy and two pipe messages.
"""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection

import torch
import torch.multiprocessing  # registers the reductions that share tensors through the pipe
from torch._inductor.async_compile import AsyncCompile, shutdown_compile_workers

from inspector.inference.frame_pipeline import FramePipeline
from inspector.inference.model import DetectorModel, first_line, load_detector


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
    frame_buf = out_buf = None
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        kind = msg[0]
        if kind == "close":
            return
        if kind == "prepare":
            _, mode, frame_buf, out_buf = msg
            pipeline = None
            try:
                pipeline = FramePipeline(model, tuple(frame_buf.shape[:2]), imgsz, mode, frame=frame_buf)
                pipeline.prepare(lambda p: conn.send(("progress", p)))
            except Exception as exc:
                pipeline = None
                conn.send(("failed", f"torch.compile failed ({type(exc).__name__}: {first_line(exc)})"))
                continue
            # The compile-worker pool is idle from here on: it goes, with the memory its processes
            # hold (a later compile starts a new one)
            shutdown_compile_workers()
            if model.device.type == "cuda":
                _pin(frame_buf)
                _pin(out_buf)
            conn.send(("ready", pipeline.cache_hit))
        elif kind == "frame":
            try:
                start = time.perf_counter()
                n = _infer(pipeline, frame_buf, out_buf)
                conn.send(("done", n, (time.perf_counter() - start) * 1e3))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {first_line(exc)}"))


def _warm_up_compiler(model: DetectorModel, imgsz: int) -> None:
    """Pay the one-time costs of a process before anyone waits on a compile: Dynamo, Inductor and
    Triton import, and Inductor's pool of compile workers starts, on a trivial function; cuDNN
    initialises on one eager forward. A worker started ahead (as the station starts it) then only
    compiles: from a warm cache in 3 s instead of 9 s on an H100 host."""
    with torch.inference_mode():
        x = torch.zeros((1, 3, imgsz, imgsz), device=model.device, dtype=model.dtype)
        model.network(x)
        torch.compile(lambda t: (t * 2).sum(), fullgraph=True)(x[0, 0, :8, :8])
        AsyncCompile.wait_pool_ready()  # a pool still starting (processes importing torch) slows all
        torch.cuda.synchronize(model.device)


def _infer(pipeline: FramePipeline | None, frame_buf: torch.Tensor, out_buf: torch.Tensor) -> int:
    if pipeline is None:
        raise RuntimeError("no compiled pipeline is ready")
    with torch.inference_mode():
        if pipeline.frame is not frame_buf:
            pipeline.frame.copy_(frame_buf, non_blocking=True)
        out = pipeline()
        out_buf[: len(out)].copy_(out, non_blocking=True)
        if out.is_cuda:
            torch.cuda.current_stream(out.device).synchronize()
    return len(out)


def _pin(buf: torch.Tensor) -> None:
    """Page-lock the shared buffer so copies to and from the GPU run as DMA, without staging."""
    torch.cuda.cudart().cudaHostRegister(buf.data_ptr(), buf.numel() * buf.element_size(), 0)
