"""The compiled backend's own process: it loads the model, compiles, and then serves frames.

A ``torch.compile`` holds the interpreter lock for seconds at a time, which freezes every other
thread of its process (the live view included). Here it holds only this process's lock. Frames
lie in shared memory (captured there, or copied there by the parent); a frame's request and answer
are a few numbers in shared memory, announced by a ``Doorbell``; the rest of the conversation
(compile, progress, errors, close) goes through the pipe.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import marshal
import multiprocessing
import os
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from multiprocessing.synchronize import Semaphore
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
import torch.multiprocessing  # registers the reductions that share tensors through the pipe
from torch._inductor import config as inductor_config
from torch._inductor.async_compile import shutdown_compile_workers
from torch._inductor.runtime.cache_dir_utils import cache_dir as inductor_cache_dir

from inspector.inference import frame_pipeline, openvino_network, postprocess, preprocess
from inspector.inference import model as model_module
from inspector.inference.frame_pipeline import FramePipeline
from inspector.inference.model import DetectorModel, first_line, load_detector
from inspector.inference.openvino_network import openvino_version
from inspector.inference.threads import limit_cpu_threads
from inspector.stop_signals import ignore_stop_signals

SPIN_S = 0.002  # how long a side busy-polls for the other's signal before it blocks (GPU only)
ALIVE_CHECK_S = 0.5  # a blocked side looks this often whether the other one is still there
THRESHOLDS, CANDIDATES, WORKER_MS, FAILED, LETTERBOX_MS, ROWS = 0, 2, 3, 4, 5, 6  # the mailbox's fields


class Doorbell:
    """Two semaphores that announce a message: from the parent, in the pipe or (a frame) in the
    mailbox; from the worker, a frame's answer in the mailbox.

    A frame's request and answer through the pipe cost two pickled messages and their system calls
    (44 µs for a round trip on a 2-core CPU, 0.12-0.15 ms of each compiled frame on an H100 host);
    here each side writes a few numbers and posts a semaphore, which also orders the writes (0.05 ms
    of a frame on that host)."""

    def __init__(self, ctx: SpawnContext) -> None:
        self.asked: Semaphore = ctx.Semaphore(0)
        self.answered: Semaphore = ctx.Semaphore(0)


def new_mailbox(batch: int) -> torch.Tensor:
    """The shared numbers of one frame call: thresholds, the answer, and the rows of ``batch`` frames;
    each side reads and writes it through a numpy view (torch's dispatch costs microseconds a field)."""
    return torch.zeros(ROWS + batch, dtype=torch.float64).share_memory_()


def spin_for(device: torch.device) -> float:
    """How long a side busy-polls before it blocks: on a GPU a frame's answer is due within a
    millisecond, and a process woken from a block can answer hundreds of microseconds late; on a
    CPU a frame takes milliseconds of the very cores a poll would spend (docs/PERFORMANCE.md)."""
    return SPIN_S if device.type == "cuda" else 0.0


def wait_for(
    sem: Semaphore, give_up: Callable[[], bool], timeout_s: float | None = None, spin_s: float = SPIN_S
) -> bool:
    """Take ``sem``: busy-polled for ``spin_s`` first, so a signal due soon is seen at once, then
    blocking. False when ``give_up()`` says so or ``timeout_s`` runs out."""
    deadline = time.perf_counter() + spin_s
    while time.perf_counter() < deadline:
        if sem.acquire(False):
            return True
        os.sched_yield()  # lets this process's other threads take the interpreter lock meanwhile
    return block_until(lambda slice_s: sem.acquire(True, slice_s), give_up, timeout_s)


def block_until(ready: Callable[[float], bool], give_up: Callable[[], bool], timeout_s: float | None) -> bool:
    """Block on ``ready(slice_s)`` in slices of ``ALIVE_CHECK_S``, asking ``give_up()`` between them
    (is the other side still there?). False when it says so or ``timeout_s`` runs out."""
    while timeout_s is None or timeout_s > 0:
        if ready(ALIVE_CHECK_S if timeout_s is None else min(ALIVE_CHECK_S, timeout_s)):
            return True
        if give_up():
            return False
        if timeout_s is not None:
            timeout_s -= ALIVE_CHECK_S
    return False


def serve(
    conn: Connection,
    bell: Doorbell,
    weights: str,
    sha256: str | None,
    trusted: bool,
    device: str,
    imgsz: int,
    cache_dir: str | None,
) -> None:
    """The child's main loop; every failure becomes a message, never a silent exit. The model is
    read again from its file, as the station read it (``trusted``), and must be the file the
    station loaded (``sha256``)."""
    ignore_stop_signals()  # the parent closes this process when the station stops
    if cache_dir:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache_dir
    try:
        model = load_detector(weights, torch.device(device), trust=trusted)
    except Exception as exc:
        conn.send(("failed", f"compile worker could not load the model ({type(exc).__name__}: {exc})"))
        return
    if model.sha256 != sha256:
        conn.send(("failed", f"{weights} changed since the line loaded it; restart the line to use it"))
        return
    if model.device.type == "cuda":
        _warm_up_compiler(model, imgsz)
    else:
        limit_cpu_threads()
    conn.send(("loaded",))
    spin = spin_for(model.device)
    pipeline: FramePipeline | None = None
    frames = out_buf = None
    mailbox: np.ndarray | None = None
    pinned: list[torch.Tensor] = []  # page-locked for the GPU; unlocked before they are dropped
    parent = multiprocessing.parent_process()
    while True:
        # one post per message: in the pipe when it holds one (written before the post), else a frame
        if not wait_for(bell.asked, lambda: not parent.is_alive(), spin_s=spin):
            return
        try:
            msg = conn.recv() if conn.poll() else ("frame",)
        except (EOFError, OSError):  # the parent is gone
            return
        kind = msg[0]
        if kind == "close":
            return
        if kind == "prepare":
            pipeline = None  # its graphs read the pinned buffers, which go now
            while pinned:
                _unpin(pinned.pop())
            _, mode, frames, batch, out_buf, shared_mailbox, calibration = msg
            mailbox = shared_mailbox.numpy()
            frame_shape = tuple(frames.shape[1:3])
            done_before = compiled_marker(Path(inductor_cache_dir()), model, frame_shape, imgsz, mode, batch)
            if model.device.type == "cuda":  # before the pipeline maps them into the device's space
                for buf in (frames, out_buf):
                    _pin(buf)
                    pinned.append(buf)
            try:
                pipeline = FramePipeline(model, frames, imgsz, mode, batch, calibration)
                with _in_process_compile() if done_before.exists() else contextlib.nullcontext():
                    pipeline.prepare(lambda p: conn.send(("progress", p)), saved_function(done_before))
            except Exception as exc:
                pipeline = None
                what = "OpenVINO" if frame_pipeline.PIPELINE_MODES[mode].openvino else "torch.compile"
                conn.send(("failed", f"{what} failed ({type(exc).__name__}: {first_line(exc)})"))
                continue
            finally:
                # A pool that a cold compile started is idle from here on: it goes, with the memory
                # its processes hold, before the first frame (its processes' exit costs seconds of
                # CPU on every core, which frames served meanwhile would wait for)
                shutdown_compile_workers()
            done_before.parent.mkdir(parents=True, exist_ok=True)
            done_before.touch()
            conn.send(("ready", pipeline.cache_hit, pipeline.precision))
        elif kind == "frame":
            start = time.perf_counter()
            try:
                rows = [row for row in mailbox[ROWS:].astype(int).tolist() if row >= 0]  # -1: unused
                conf, iou = mailbox[THRESHOLDS : THRESHOLDS + 2].tolist()
                mailbox[CANDIDATES] = _infer(pipeline, rows, out_buf, (conf, iou))
                mailbox[LETTERBOX_MS] = pipeline.letterbox_ms
                mailbox[FAILED] = 0
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {first_line(exc)}"))
                mailbox[FAILED] = 1
            mailbox[WORKER_MS] = (time.perf_counter() - start) * 1e3
            bell.answered.release()


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
    key = (*_compile_kind(model, frame_shape, imgsz, mode, batch), torch.__version__, _frame_function_code())
    if frame_pipeline.PIPELINE_MODES[mode].openvino:
        key += (openvino_version(),)
    name = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    return cache_root / "inspector-compiled" / name


def compile_kind(
    model: DetectorModel, frame_shape: tuple[int, ...], imgsz: int, mode: str, batch: int
) -> str:
    """What makes two compiles take about as long: the marker's key less the code and the versions."""
    kind = _compile_kind(model, frame_shape, imgsz, mode, batch)
    return hashlib.sha256(repr(kind).encode()).hexdigest()[:16]


def _compile_kind(
    model: DetectorModel, frame_shape: tuple[int, ...], imgsz: int, mode: str, batch: int
) -> tuple:
    device = torch.cuda.get_device_name(model.device) if model.device.type == "cuda" else "cpu"
    weights = model.sha256 or model.path
    return (weights, frame_shape, batch, imgsz, mode, model.dtype, device)


def saved_function(marker: Path) -> Path:
    """Where the compiled function of the compile that ``marker`` stands for is kept."""
    return marker.with_name(marker.name + ".compiled")


@functools.cache
def _frame_function_code() -> str:
    """A digest of the code that makes up the compiled frame function: these modules and the
    ultralytics release (the network's own code); read once per process."""
    digest = hashlib.sha256(importlib.metadata.version("ultralytics").encode())
    for module in (frame_pipeline, postprocess, preprocess, model_module, openvino_network):
        digest.update(_module_code(module))
    return digest.hexdigest()


def _module_code(module: ModuleType) -> bytes:
    """A module's source, or in a frozen build (which keeps only bytecode) its compiled code."""
    source = Path(module.__file__ or "")
    if source.is_file():
        return source.read_bytes()
    return marshal.dumps(module.__loader__.get_code(module.__name__))


def _infer(
    pipeline: FramePipeline | None,
    rows: list[int],
    out_buf: torch.Tensor,
    thresholds: tuple[float, float],
) -> int:
    """Run the frames in ``rows`` of the shared frames, put the candidates in ``out_buf`` as (n, k, 7)
    from its start; returns k. On a GPU only the rows the graph decided cross back, unless it left a
    frame of the batch to the host, which needs them all."""
    if pipeline is None:
        raise RuntimeError("no compiled pipeline is ready")
    with torch.inference_mode():
        pipeline.set_thresholds(*thresholds)
        out = pipeline(rows)
        k = min(pipeline.decided_rows or out.shape[1], out.shape[1])
        answer = _copy_rows(out, k, out_buf)
        if k < out.shape[1] and not bool((answer[: len(rows), 0, 6] >= 0).all()):
            k = out.shape[1]
            _copy_rows(out, k, out_buf)
    return k


def answer_in(out_buf: torch.Tensor, frames: int, k: int) -> torch.Tensor:
    """The worker's answer in the shared buffer, as both sides read it: ``k`` rows of each of
    ``frames`` frames, packed from the buffer's start."""
    width = out_buf.shape[2]
    return out_buf.view(-1)[: frames * k * width].view(frames, k, width)


def _copy_rows(out: torch.Tensor, k: int, out_buf: torch.Tensor) -> torch.Tensor:
    """The first ``k`` rows of each frame of ``out`` into the start of ``out_buf``."""
    answer = answer_in(out_buf, len(out), k)
    answer.copy_(out[:, :k], non_blocking=True)
    if out.is_cuda:
        torch.cuda.current_stream(out.device).synchronize()
    return answer


def _pin(buf: torch.Tensor) -> None:
    """Page-lock the shared buffer: the GPU then reads it in place, and copies run as DMA."""
    torch.cuda.cudart().cudaHostRegister(buf.data_ptr(), buf.numel() * buf.element_size(), 0)


def _unpin(buf: torch.Tensor) -> None:
    """Undo ``_pin`` before the buffer is dropped, so its pages can be unmapped."""
    torch.cuda.cudart().cudaHostUnregister(buf.data_ptr())
