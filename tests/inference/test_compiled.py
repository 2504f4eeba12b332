"""The compiled backend must see what eager sees, and its worker process must fail loudly, never
silently. Compiling on a 2-core CPU takes about a minute cold, so the input is small; CUDA is
checked where a GPU exists."""

import contextlib
import dataclasses
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
from torch._inductor.runtime.cache_dir_utils import cache_dir as inductor_cache_dir

from inspector.capture.base import capture_into
from inspector.capture.synthetic import SyntheticConveyor
from inspector.inference import backends, compiled_worker
from inspector.inference.backends import CompiledBackend, CompileError
from inspector.inference.compiled_worker import compiled_marker, saved_function
from inspector.inference.engine import Engine
from inspector.inference.frame_pipeline import DECIDED_ROWS, MAX_CANDIDATES, graph_sizes, mapped_on_device
from inspector.inference.model import load_detector
from inspector.lab.evaluation import match
from inspector.paths import demo_model_path


def _agree(eager_engine, compiled_engine, frames):
    outputs = [(eager_engine.detect(f.image), compiled_engine.detect(f.image)) for f in frames]
    return sum(_same_detections(ref, out) for ref, out in outputs)


def _same_detections(ref, out):
    """The compiled output finds what eager found (IoU 0.9, confidence within 0.02); returns how many."""
    assert out.backend.startswith("compiled")
    m = match(
        [(d.class_name, d.box) for d in ref.detections],
        [(d.class_name, d.box) for d in out.detections],
        0.9,
    )
    assert m.missed == m.extra == 0, (ref.detections, out.detections)
    conf = {d.box: d.confidence for d in out.detections}
    refc = {d.box: d.confidence for d in ref.detections}
    for t, f in m.pairs:
        assert abs(conf[f[1]] - refc[t[1]]) <= 0.02
    return len(m.pairs)


def _pooled_frames_agree(backend, eager_engine, compiled_engine, seed):
    """Frames a line renders into the worker's pool are found there, and the worker reads the right
    rows; returns the frames."""
    line = SyntheticConveyor(seed=seed, fps=0)
    capture_into(line, backend.frame_pool)
    pooled = [line.render(i) for i in (30, 90)]
    assert all(backend.frame_pool.index_of(f.image) is not None for f in pooled)
    assert _agree(eager_engine, compiled_engine, pooled) >= 2
    return pooled


@pytest.mark.slow
def test_compiled_cpu_matches_eager_reports_stages_and_hits_the_cache(demo_model, monkeypatch):
    frames = [SyntheticConveyor(seed=11, fps=0).render(i) for i in (0, 60, 120)]
    eager = Engine(demo_model, imgsz=160, conf=0.05)
    compiled = Engine(demo_model, imgsz=160, conf=0.05)
    backend = CompiledBackend(demo_model, 160, "default")
    stages = []
    try:
        backend.prepare((720, 1280), progress=lambda p: stages.append((p.stage, p.fraction)))
        compiled.use(backend)
        names = [s for s, _ in stages]
        assert names[0] == "starting worker" and stages[-1] == ("ready", 1.0)
        assert {"tracing", "warm-up runs"} <= set(names)
        assert {"compiling kernels", "loading compiled"} & set(names)  # cold, or saved by an earlier run
        assert [f for _, f in stages] == sorted(f for _, f in stages)
        assert _agree(eager, compiled, frames) >= 3
        assert not frames[0].image.flags.writeable
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compiled.detect(frames[0].image)  # a frozen frame is read without a warning
        # on the CPU the host's NMS decides (all-pairs IoU in the graph costs more there)
        assert (backend([frames[0].image], 0.05, 0.7).candidates[0, :, 6] == -1).all()
        _pooled_frames_agree(backend, eager, compiled, seed=11)
    finally:
        backend.close()
    # the parent can tell, before any worker starts, that this compile is in the cache
    again = CompiledBackend(demo_model, 160, "default")
    assert again.is_cached((720, 1280), "default")
    assert not again.is_cached((721, 1280), "default")
    assert not CompiledBackend(demo_model, 192, "default").is_cached((720, 1280), "default")
    # a new worker loads the compiled function the first one saved, and says so
    seen = []
    try:
        again.prepare((720, 1280), progress=lambda p: seen.append((p.stage, p.detail)))
        assert again.cache_hit and seen[-1][1] == "from the on-disk cache"
        stages = [s for s, _ in seen]
        assert "loading compiled" in stages and "compiling kernels" not in stages
        compiled.use(again)
        # a frame of another size (a second camera's) runs on eager; the compiled one stays in charge
        small = SyntheticConveyor(seed=11, width=640, height=360, fps=0).render(0)
        out = compiled.detect(small.image)
        assert out.backend == "eager" and compiled.backend is again and not compiled.take_fallback()
        with pytest.raises(ValueError, match="frame size changed"):
            again([small.image], 0.25, 0.7)
        # a worker that dies while the line runs: the same
        compiled.use(again)
        again._process.kill()
        again._process.join()
        out = compiled.detect(frames[0].image)
        assert out.backend == "eager" and "worker exited" in compiled.take_fallback()
        assert compiled.take_fallback() == ""  # the news is taken once
    finally:
        again.close()
    # a damaged saved function is dropped: the worker compiles (from Inductor's cache) and says why
    marker = compiled_marker(Path(inductor_cache_dir()), demo_model, (720, 1280), 160, "default", 1)
    saved = saved_function(marker)
    saved.write_bytes(b"half a file")
    fresh = CompiledBackend(demo_model, 160, "default")
    seen.clear()
    try:
        fresh.prepare((720, 1280), progress=lambda p: seen.append((p.stage, p.detail)))
        assert "the saved one was unusable" in seen[-1][1] and "compiling kernels" in [s for s, _ in seen]
        served = Engine(demo_model, imgsz=160, conf=0.05)
        served.use(fresh)
        assert _agree(eager, served, frames[:1]) >= 1
        # a worker that stops answering is ended, and eager takes over with the reason
        monkeypatch.setattr(backends, "FRAME_TIMEOUT_S", 1.0)
        os.kill(fresh._process.pid, signal.SIGSTOP)
        out = served.detect(frames[0].image)
        assert out.backend == "eager" and "stopped answering" in served.take_fallback()
        assert not fresh.ready and not fresh._process.is_alive()
    finally:
        fresh.close()
    assert saved.stat().st_size > 1000  # saved again, whole


@pytest.mark.slow
def test_cancel_ends_a_compile_at_once(demo_model, tmp_path):
    backend = CompiledBackend(demo_model, 128, "default", cache_dir=tmp_path / "cold")
    compiling = threading.Event()
    errors = []

    def compile_it():
        def progress(p):
            if p.stage == "compiling kernels":
                compiling.set()

        try:
            backend.prepare((360, 640), progress=progress)
        except CompileError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=compile_it)
    thread.start()
    assert compiling.wait(120), "the compile never started"
    backend.cancel()
    thread.join(10)
    assert not thread.is_alive(), "cancel did not stop the compile"
    assert errors == ["compile cancelled"]
    backend.close()


def test_the_worker_ends_when_its_parent_dies_without_a_word(demo_model):
    command = [sys.executable, "-c", _ORPHANING_PARENT, demo_model.path]
    # the orphan holds the parent's output pipes open: run() returns once it is gone too
    parent = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert parent.returncode == -signal.SIGKILL, parent.stderr
    worker = psutil.Process(int(parent.stdout))
    deadline = time.monotonic() + 10
    with contextlib.suppress(psutil.NoSuchProcess):  # gone, and reaped
        while worker.status() != psutil.STATUS_ZOMBIE:  # gone, not yet reaped
            assert time.monotonic() < deadline, "the orphaned worker lingers"
            time.sleep(0.1)


def test_a_stop_signal_to_the_whole_group_leaves_the_worker_to_its_parent(demo_model):
    backend = CompiledBackend(demo_model, 128, "default")
    try:
        backend.wait_started()
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):  # Ctrl+C, a closed terminal, a kill
            os.kill(backend._process.pid, sig)
        time.sleep(1.0)
        assert backend._process.is_alive()
        process = backend._process
    finally:
        backend.close()
    assert process.exitcode == 0  # closed by its parent's word


_ORPHANING_PARENT = """
import os, signal, sys, torch
from inspector.inference.backends import CompiledBackend
from inspector.inference.model import load_detector
backend = CompiledBackend(load_detector(sys.argv[1], torch.device("cpu")), 128, "default")
backend.wait_started()
print(backend._process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_model_the_worker_cannot_load_is_a_compile_error(demo_model, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    backend = CompiledBackend(dataclasses.replace(demo_model, path=str(bad)), 128, "default")
    try:
        with pytest.raises(CompileError, match="could not load the model"):
            backend.prepare((360, 640))
    finally:
        backend.close()


def test_the_marker_names_the_code_that_builds_the_compiled_function(demo_model, monkeypatch, tmp_path):
    # a saved compiled function keeps the code it was traced from: new code must not load it
    marker = compiled_marker(tmp_path, demo_model, (720, 1280), 160, "default", 1)
    assert marker == compiled_marker(tmp_path, demo_model, (720, 1280), 160, "default", 1)
    monkeypatch.setattr(compiled_worker, "_frame_function_code", lambda: "edited")
    assert compiled_marker(tmp_path, demo_model, (720, 1280), 160, "default", 1) != marker


def test_unknown_or_impossible_modes(demo_model):
    with pytest.raises(ValueError, match="compile mode"):
        CompiledBackend(demo_model, 160, "fastest")
    refused = CompiledBackend(demo_model, 160, "cuda-graph")
    with pytest.raises(CompileError, match="runs on a CUDA device; here choose openvino"):
        refused.prepare((360, 640))
    assert refused._process is None  # refused before any worker started


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("mode", ["reduce-overhead", "cuda-graph"])
def test_compiled_cuda_fp16_matches_eager(mode):
    model = load_detector(demo_model_path(), torch.device("cuda"))
    assert model.dtype == torch.float16
    frames = [SyntheticConveyor(seed=12, fps=0).render(i) for i in (0, 60, 120)]
    eager = Engine(model, imgsz=416)
    compiled = Engine(model, imgsz=416)
    backend = CompiledBackend(model, 416, mode)
    try:
        backend.prepare((720, 1280))
        compiled.use(backend)
        assert _agree(eager, compiled, frames) >= 3
        pooled = _pooled_frames_agree(backend, eager, compiled, seed=12)
        # on a GPU the worker's graphs read them in the pool: nothing went through the staging row
        staging = backend.frame_pool.frames[0].numpy()
        assert not any(np.array_equal(staging, f.image) for f in pooled)
        # the NMS ran in the graph and settled, with the engine's thresholds: the host took its rows
        # as they came (a graph that left them undecided would agree through the host's own NMS)
        decided = backend([frames[1].image], 0.25, 0.7).candidates[0, :, 6]
        assert (decided >= 0).all() and decided.sum() >= 1
        assert len(decided) == DECIDED_ROWS  # only the rows the graph compared crossed back
        # above a conf of 1e-5 lie some 600 rows of this frame, more than the graph compares: it
        # leaves the frame to the host, and every candidate crosses
        crowded = backend([frames[1].image], 1e-5, 0.7).candidates
        assert crowded.shape[1] == MAX_CANDIDATES and (crowded[0, :, 6] == -1).all()
        assert backend([frames[1].image], 0.99, 0.7).candidates[0, :, 6].sum() < decided.sum()
    finally:
        backend.close()
    # the marker names the GPU model and the mode, and the parent reads it on CUDA too
    again = CompiledBackend(model, 416, mode)
    assert again.is_cached((720, 1280), mode)
    if mode == "reduce-overhead":  # a new worker loads the saved compiled function and agrees too
        stages = []
        try:
            again.prepare((720, 1280), progress=lambda p: stages.append(p.stage))
            assert "loading compiled" in stages and "compiling kernels" not in stages
            compiled.use(again)
            assert _agree(eager, compiled, frames) >= 3
        finally:
            again.close()
    fp32 = dataclasses.replace(model, dtype=torch.float32)
    assert not CompiledBackend(fp32, 416, mode).is_cached((720, 1280), mode)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_mapped_frame_is_read_by_the_device_where_it_lies():
    host = torch.zeros((2, 4, 6, 3), dtype=torch.uint8).share_memory_()
    compiled_worker._pin(host)
    try:
        mapped = mapped_on_device(host[1:2], torch.device("cuda"))
        assert mapped.is_cuda and mapped.data_ptr() == host[1].data_ptr()
        host[1] = 7
        assert int(mapped.sum()) == 7 * 72
        host[1, 3, 5, 2] = 200  # no copy was taken: the next kernel sees the host's write
        assert int(mapped.sum()) == 7 * 71 + 200
        del mapped
    finally:
        compiled_worker._unpin(host)
    with pytest.raises(ValueError, match="contiguous"):
        mapped_on_device(host[:, ::2], torch.device("cuda"))


@pytest.mark.slow
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("batch", [1, 5])
def test_compiled_cuda_1080p_frames_agree_read_in_place_alone_or_as_a_batch(batch):
    """1080p at 640 is the odd whole factor 3 (a strided letterbox); frames are read where they lie
    in the pool, alone (a graph per row) or as batches of every size up to the largest (a graph per
    size of ``graph_sizes``, rows picked on the device); a frame from outside the pool is copied in."""
    model = load_detector(demo_model_path(), torch.device("cuda"))
    line = SyntheticConveyor(seed=13, width=1920, height=1080, fps=0)
    eager = Engine(model, imgsz=640)
    compiled = Engine(model, imgsz=640)
    backend = CompiledBackend(model, 640, "reduce-overhead")
    try:
        backend.prepare((1080, 1920), batch=batch)
        compiled.use(backend)
        capture_into(line, backend.frame_pool)
        frames = [line.render(i).image for i in (0, 45, 90, 135)]
        assert len({backend.frame_pool.index_of(f) for f in frames} - {None}) == 4
        frames.append(line.render(180).image.copy())  # from outside the pool
        assert backend.frame_pool.index_of(frames[-1]) is None
        groups = [frames[-size:] for size in range(1, batch + 1)] if batch > 1 else [[f] for f in frames]
        for group in groups:  # each size's graph answers for its own frames only
            assert len(backend(group, 0.25, 0.7).candidates) == len(group)
        pairs = [zip(eager.detect_batch(g), compiled.detect_batch(g), strict=True) for g in groups]
        assert sum(_same_detections(ref, out) for group in pairs for ref, out in group) >= 5
    finally:
        backend.close()


def test_a_batch_gets_the_smallest_graph_that_holds_it():
    assert graph_sizes(1) == [1]
    assert graph_sizes(2) == [2]
    assert graph_sizes(5) == [2, 4, 5]
    assert graph_sizes(64) == [2, 4, 8, 16, 32, 64]
    assert graph_sizes(96) == [2, 4, 8, 16, 32, 64, 96]


def test_the_compile_key_reads_bytecode_where_no_source_is_shipped(monkeypatch):
    from inspector.inference import frame_pipeline

    source = compiled_worker._module_code(frame_pipeline)
    assert source == Path(frame_pipeline.__file__).read_bytes()
    monkeypatch.setattr(frame_pipeline, "__file__", "/frozen/app/inspector/inference/frame_pipeline.pyc")
    code = compiled_worker._module_code(frame_pipeline)  # as in the installer's bundle
    assert code and code != source and code == compiled_worker._module_code(frame_pipeline)


def test_on_a_cpu_each_side_blocks_for_the_other_instead_of_polling_the_cores_it_shares():
    """A CPU frame takes milliseconds of the very cores a poll would spend; a GPU's answer is due
    sooner than a woken process answers, so there a side polls first."""
    sem = multiprocessing.get_context("spawn").Semaphore(0)
    threading.Timer(0.05, sem.release).start()
    before = time.thread_time()
    assert compiled_worker.wait_for(sem, lambda: False, 2.0, compiled_worker.spin_for(torch.device("cpu")))
    assert time.thread_time() - before < 0.001  # 50 ms waited, next to none of it on a core
    assert compiled_worker.spin_for(torch.device("cuda")) > 0
