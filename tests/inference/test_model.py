import shutil

import pytest
import torch

from inspector.inference.devices import DeviceError, resolve_device
from inspector.inference.model import ModelLoadError, load_detector, uses_onednn
from inspector.paths import demo_model_path

CPU = torch.device("cpu")


def test_demo_checkpoint_loads_with_its_class_names(demo_model):
    assert demo_model.names == {0: "scratch", 1: "dent", 2: "stain", 3: "missing_hole"}
    assert demo_model.dtype == torch.float32 and demo_model.stride == 32
    assert len(demo_model.sha256) == 64
    assert not demo_model.network.training


def test_yaml_builds_a_model_and_yolo26_uses_its_end_to_end_head():
    assert not load_detector("yolov8n.yaml", CPU).end2end
    assert load_detector("yolo26n.yaml", CPU).end2end
    assert not load_detector("yolo26n.yaml", CPU, end2end=False).end2end


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_detector(tmp_path / "absent.pt", CPU)


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(demo_model_path().read_bytes()[:5000])  # a truncated download
    with pytest.raises(ModelLoadError, match="not a loadable ultralytics model"):
        load_detector(bad, CPU)


def test_checkpoint_that_is_not_a_model(tmp_path):
    other = tmp_path / "weights.pt"
    torch.save({"state": torch.zeros(3)}, other)
    with pytest.raises(ModelLoadError):
        load_detector(other, CPU)


def test_non_detect_models_are_refused():
    with pytest.raises(ModelLoadError, match="classify model"):
        load_detector("yolov8n-cls.yaml", CPU)


def test_wrong_file_type(tmp_path):
    onnx = tmp_path / "model.onnx"
    shutil.copyfile(demo_model_path(), onnx)
    with pytest.raises(ModelLoadError, match="expected"):
        load_detector(onnx, CPU)


def test_devices():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("quantum")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            resolve_device("cuda:0")


def test_on_an_x86_cpu_the_network_is_channels_last_as_ultralytics_runs_it(demo_model):
    if not uses_onednn(demo_model.device):
        pytest.skip("channels-last pays off only with oneDNN on x86")
    convs = [m for m in demo_model.network.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
