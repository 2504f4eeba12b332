import shutil

import pytest
import torch

from inspector.inference.devices import DeviceError, resolve_device
from inspector.inference.model import (
    DepthwiseConv2d,
    ModelLoadError,
    depthwise_off_cudnn,
    keep_anchors,
    load_detector,
    uses_onednn,
)
from inspector.paths import demo_model_path

CPU = torch.device("cpu")


def test_demo_checkpoint_loads_with_its_class_names(demo_model):
    names = {0: "scratch", 1: "dent", 2: "stain", 3: "missing_hole", 4: "plate", 5: "washer"}
    assert demo_model.names == names
    assert demo_model.dtype == torch.float32 and demo_model.stride == 32
    assert len(demo_model.sha256) == 64
    assert not demo_model.network.training


def test_yaml_builds_a_model_and_yolo26_uses_its_end_to_end_head():
    assert not load_detector("yolov8n.yaml", CPU).end2end
    assert load_detector("yolo26n.yaml", CPU).end2end
    assert not load_detector("yolo26n.yaml", CPU, end2end=False).end2end


def test_kept_anchors_serve_every_batch_size_of_their_frame_size_and_only_that():
    network = load_detector(demo_model_path(), CPU).network
    x = torch.rand(3, 3, 96, 160, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        alone = [network(x[i : i + 1])[0] for i in range(3)]
        network(x[:2])
        anchors = network.model[-1].anchors
        keep_anchors(network, True)
        # 3 frames on the anchors of 2: a wrong anchor moves a box by a stride (8 px or more); a batch
        # of 3 may sum in another order than 3 of 1, a float32 rounding apart
        torch.testing.assert_close(network(x)[0], torch.cat(alone), rtol=1e-4, atol=1e-3)
        assert network.model[-1].anchors is anchors  # not rebuilt
        keep_anchors(network, False)
        other = torch.rand(1, 3, 128, 128)
        assert network(other)[0].shape[2] == (128 // 8) ** 2 + (128 // 16) ** 2 + (128 // 32) ** 2


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


def test_depthwise_convolutions_are_taken_off_cudnn_and_compute_the_same():
    model = load_detector("yolo11n.yaml", CPU)
    x = torch.rand((1, 3, 96, 160))
    with torch.inference_mode():
        before = model.network(x)[0]
        depthwise = [m for m in model.network.modules() if type(m) is torch.nn.Conv2d and m.groups > 1]
        depthwise_off_cudnn(model.network)
        after = model.network(x)[0]
    assert depthwise  # yolo11n's head and attention have seven
    assert all(isinstance(m, DepthwiseConv2d) for m in depthwise)
    assert not [m for m in model.network.modules() if type(m) is torch.nn.Conv2d and m.groups > 1]
    torch.testing.assert_close(after, before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_half_models_run_depthwise_in_fp32_and_agree_with_cudnn():
    model = load_detector("yolo11n.yaml", torch.device("cuda"))
    layers = [m for m in model.network.modules() if isinstance(m, DepthwiseConv2d)]
    assert layers and all(m.weight.dtype == torch.float32 for m in layers)
    x = torch.rand((1, 3, 384, 640), device="cuda", dtype=torch.float16)
    with torch.inference_mode():
        ours = model.network(x)[0]
        for m in layers:
            m.__class__ = torch.nn.Conv2d
            m.half()
        cudnn = model.network(x)[0]
    assert ours.dtype == torch.float16
    torch.testing.assert_close(ours, cudnn, atol=0.5, rtol=0.01)


@pytest.mark.parametrize(("stride", "dilation", "bias"), [(1, 1, True), (2, 1, False), (1, 2, True)])
def test_a_compiled_depthwise_convolution_is_a_sum_of_shifted_maps(stride, dilation, bias):
    layer = torch.nn.Conv2d(8, 8, 3, stride, padding=dilation, dilation=dilation, groups=8, bias=bias)
    x = torch.rand((1, 8, 13, 22))
    expected = layer(x)
    depthwise_off_cudnn(layer)
    graphs = []

    def keep_graph(gm, example_inputs):
        graphs.append(gm.code)
        return gm.forward

    with torch.no_grad():
        got = torch.compile(layer, backend=keep_graph, fullgraph=True)(x)
    assert isinstance(layer, DepthwiseConv2d)
    assert len(graphs) == 1 and "conv" not in graphs[0]
    torch.testing.assert_close(got, expected)
