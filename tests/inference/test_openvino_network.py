"""The OpenVINO mode must see what eager sees on frames it was never tuned on, be ready in seconds,
keep its conversion for the next run, and survive a damaged one."""

import json

import numpy as np
import pytest
import torch

from inspector.capture.synthetic import SyntheticConveyor
from inspector.inference.backends import CompiledBackend, CompileError
from inspector.inference.calibration import EVERY, FRAMES
from inspector.inference.compile_durations import CompileDurations
from inspector.inference.compiled_worker import compile_kind, compiled_marker, saved_function
from inspector.inference.engine import Engine
from inspector.inference.frame_pipeline import FramePipeline, default_mode, modes_for
from inspector.inference.openvino_network import CHOICE, NETWORK, cpu_computes_bf16
from tests.inference.test_compiled import _agree, _same_detections

SHAPE = (720, 1280)


def _stages(backend, shape=SHAPE, expected=None):
    """The compile's (stage, detail) reports; ``expected`` gathers each report's expected duration."""
    seen = []

    def progress(p):
        seen.append((p.stage, p.detail))
        if expected is not None:
            expected.append(p.expected_s)

    backend.prepare(shape, "openvino", progress=progress)
    return seen


def test_openvino_matches_eager_on_held_out_seeds_and_keeps_its_conversion(demo_model, tmp_path):
    frames = [SyntheticConveyor(seed=seed, fps=0).render(i) for seed in (101, 202) for i in (20, 70, 130)]
    eager = Engine(demo_model, imgsz=224, conf=0.05)
    served = Engine(demo_model, imgsz=224, conf=0.05)
    cold = CompiledBackend(demo_model, 224, "openvino", cache_dir=tmp_path)
    durations = CompileDurations(tmp_path / "inspector-compiled")
    kind = compile_kind(demo_model, SHAPE, 224, "openvino", 1)
    expected = []
    try:
        seen = _stages(cold, expected=expected)
        stages = [s for s, _ in seen]
        assert stages[0] == "starting worker" and stages[-1] == "ready"
        assert "converting the network" in stages and "compiling kernels" not in stages
        assert not cold.cache_hit and cold.precision == "f32"  # as eager, whatever the CPU has
        assert cold.label == f"compiled (openvino {cold.precision})"
        assert "converted cold" in seen[-1][1] and cold.precision in seen[-1][1]
        served.use(cold)
        assert _agree(eager, served, frames) >= 12  # every defect and part eager found, no other
    finally:
        cold.close()
    # the first compile of its kind has nothing to go by; it leaves its time for the next one
    assert set(expected) == {None} and 0 < durations.last(kind, warm=False) < 300
    assert durations.last(kind, warm=True) is None  # loading from the cache takes a time of its own
    folder = saved_function(compiled_marker(tmp_path, demo_model, SHAPE, 224, "openvino", 1))
    folder = folder.with_name(folder.name + ".openvino")
    assert (folder / NETWORK).exists() and json.loads((folder / CHOICE).read_text())["precision"]
    warm = CompiledBackend(demo_model, 224, "openvino", cache_dir=tmp_path)
    assert warm.is_cached(SHAPE, "openvino")
    expected.clear()
    try:
        seen = _stages(warm, expected=expected)
        assert set(expected) == {None} and durations.last(kind, warm=True) > 0
        assert warm.cache_hit and "converting the network" not in [s for s, _ in seen]
        assert "from the on-disk cache" in seen[-1][1]
        served.use(warm)
        assert _agree(eager, served, frames[:2]) >= 4
    finally:
        warm.close()
    # a damaged conversion is dropped and made again, and the run says why
    (folder / NETWORK).write_text("<half a file")
    again = CompiledBackend(demo_model, 224, "openvino", cache_dir=tmp_path)
    expected.clear()
    loaded_s = durations.last(kind, warm=True)
    try:
        seen = _stages(again, expected=expected)
        assert set(expected) == {loaded_s}, "the cache holds the compile: the last load is the estimate"
        assert not again.cache_hit and "the saved one was unusable" in seen[-1][1]
        served.use(again)
        assert _agree(eager, served, frames[:1]) >= 2
    finally:
        again.close()


def test_int8_keeps_the_frames_a_line_offers_while_its_worker_still_starts(demo_model, tmp_path):
    """A line's first frames arrive while the compile worker loads torch: a short run must not end
    before INT8 has the frames it calibrates on because the first ones were turned away."""
    frames = [SyntheticConveyor(seed=7, fps=0).render(i).image for i in range(0, 80, 10)]
    backend = CompiledBackend(demo_model, 224, "openvino-int8", cache_dir=tmp_path)
    seen = []

    def progress(p):
        if p.stage == "starting worker":  # no worker yet: the line offers every frame it inspects
            for i in range(EVERY * FRAMES):
                backend.offer(frames[i % len(frames)])
            assert backend.calibrated()
        seen.append((p.stage, p.detail))

    try:
        backend.prepare(SHAPE, progress=progress)
        assert backend.label == "compiled (openvino-int8)"
    finally:
        backend.close()
    assert seen[0][0] == "starting worker" and "collecting frames" not in [s for s, _ in seen]
    assert f"calibrated on {FRAMES} frames of the line" in seen[-1][1]


def test_bf16_is_a_mode_only_where_the_cpu_computes_in_it_and_finds_what_eager_finds(demo_model, tmp_path):
    if not cpu_computes_bf16():
        assert "openvino-bf16" not in modes_for("cpu")
        pytest.skip("this CPU does not compute in bf16")
    assert "openvino-bf16" in modes_for("cpu") and "openvino-bf16" not in modes_for("cuda")
    frames = [SyntheticConveyor(seed=seed, fps=0).render(i) for seed in (101, 202) for i in (20, 70, 130)]
    eager, served = Engine(demo_model, imgsz=320), Engine(demo_model, imgsz=320)  # at the line's conf
    backend = CompiledBackend(demo_model, 320, "openvino-bf16", cache_dir=tmp_path)
    try:
        backend.prepare(SHAPE)
        assert backend.precision == "bf16" and backend.label == "compiled (openvino-bf16)"
        served.use(backend)
        # at the line's own threshold bf16 finds every box eager finds, no other, within 0.02
        assert _agree(eager, served, frames) >= 12
    finally:
        backend.close()


def test_each_device_gets_its_own_default_mode_and_lists_only_the_modes_it_runs():
    assert default_mode("cpu") == "openvino" and default_mode("cuda") == "reduce-overhead"
    assert modes_for("cpu")[0] == "openvino" and "cuda-graph" not in modes_for("cpu")
    assert modes_for("cuda")[0] == "reduce-overhead" and "openvino" not in modes_for("cuda")
    assert "openvino-int8" in modes_for("cpu") and "openvino-int8" not in modes_for("cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_openvino_mode_is_refused_on_a_gpu_line(demo_model):
    import dataclasses

    on_gpu = dataclasses.replace(demo_model, device=torch.device("cuda"))
    with pytest.raises(CompileError, match=r"runs on the CPU \(--device cpu\); here choose reduce-overhead"):
        CompiledBackend(on_gpu, 160, "openvino").prepare(SHAPE)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # the in-process conversion's trace
def test_a_batch_short_of_frames_runs_only_the_frames_it_has(demo_model, tmp_path):
    """A camera left out by the recipe, ended or between triggers: its share of the batch is not run,
    and the frames that are find what eager finds."""
    line = SyntheticConveyor(seed=303, fps=0)
    frames = [line.render(i).image for i in (15, 60, 110)]
    pool = torch.from_numpy(np.stack(frames))
    pipeline = FramePipeline(demo_model, pool, 224, "openvino", batch=3)
    pipeline.prepare(saved=tmp_path / "in-process")
    assert [len(pipeline([2, 0][:n])) for n in (1, 2)] == [1, 2]  # the network ran one, then two
    eager = Engine(demo_model, imgsz=224, conf=0.05)
    served = Engine(demo_model, imgsz=224, conf=0.05)
    backend = CompiledBackend(demo_model, 224, "openvino", cache_dir=tmp_path)
    try:
        backend.prepare(SHAPE, batch=3)
        served.use(backend)
        found = 0
        for n in (1, 2, 3):
            pairs = zip([eager.detect(f) for f in frames[:n]], served.detect_batch(frames[:n]), strict=True)
            found += sum(_same_detections(ref, out) for ref, out in pairs)
        assert found >= 6
    finally:
        backend.close()
