"""The compiled backend must see what eager sees. Compiling on a 2-core CPU takes about a
minute cold, so the input is small; CUDA is checked where a GPU exists."""

import pytest
import torch

from inspector.capture.synthetic import SyntheticConveyor
from inspector.evaluation import match
from inspector.inference.backends import CompiledBackend, CompileError, make_backend
from inspector.inference.engine import Engine
from inspector.inference.model import load_detector
from inspector.paths import demo_model_path


def _agree(eager_engine, compiled_engine, frames):
    compared = 0
    for frame in frames:
        ref = eager_engine.detect(frame.image)
        out = compiled_engine.detect(frame.image)
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
        compared += len(m.pairs)
    return compared


@pytest.mark.slow
def test_compiled_cpu_matches_eager_and_reports_stages(demo_model):
    frames = [SyntheticConveyor(seed=11, fps=0).render(i) for i in (0, 60, 120)]
    eager = Engine(demo_model, imgsz=160, conf=0.05)
    compiled = Engine(demo_model, imgsz=160, conf=0.05)
    backend = CompiledBackend(demo_model.network, "default")
    stages = []
    backend.prepare(compiled.example_input(720, 1280), lambda p: stages.append((p.stage, p.fraction)))
    compiled.use(backend)
    assert stages[0][0] == "tracing" and stages[-1] == ("ready", 1.0)
    assert "compiling kernels" in [s for s, _ in stages]
    assert [f for _, f in stages] == sorted(f for _, f in stages)
    assert _agree(eager, compiled, frames) >= 3
    # the same graph again: Inductor finds it in its on-disk cache, and says so
    again = CompiledBackend(demo_model.network, "default")
    details = []
    torch._dynamo.reset()  # forget in-memory compiles, as a new process would
    again.prepare(compiled.example_input(720, 1280), lambda p: details.append(p.detail))
    assert again.cache_hit and details[-1] == "from the on-disk cache"


def test_compile_failure_is_a_compile_error():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3))
    backend = make_backend("compiled", net, "default")
    with pytest.raises(CompileError, match=r"torch\.compile failed"):
        backend.prepare(torch.zeros(1, 3, 16, 16))  # wrong shape for the network: fails to trace


def test_unknown_mode_and_backend():
    with pytest.raises(ValueError, match="compile mode"):
        CompiledBackend(torch.nn.Identity(), "fastest")
    with pytest.raises(ValueError, match="backend"):
        make_backend("tensorrt", torch.nn.Identity())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_compiled_cuda_fp16_matches_eager():
    model = load_detector(demo_model_path(), torch.device("cuda"))
    assert model.dtype == torch.float16
    frames = [SyntheticConveyor(seed=12, fps=0).render(i) for i in (0, 60, 120)]
    eager = Engine(model, imgsz=416)
    compiled = Engine(model, imgsz=416)
    backend = CompiledBackend(model.network, "reduce-overhead")
    backend.prepare(compiled.example_input(720, 1280))
    compiled.use(backend)
    assert _agree(eager, compiled, frames) >= 3
