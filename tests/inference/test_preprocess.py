import numpy as np
import pytest
import torch
from ultralytics.data.augment import LetterBox

from inspector.inference.preprocess import (
    Preprocessor,
    letterbox_geometry,
    letterbox_on_host,
    letterbox_tensor,
    model_input,
    odd_whole_step,
)


@pytest.mark.parametrize(
    ("h", "w", "imgsz"), [(720, 1280, 416), (1080, 1920, 640), (480, 640, 320), (600, 400, 416)]
)
def test_geometry_matches_ultralytics_letterbox(h, w, imgsz):
    image = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    theirs = LetterBox((imgsz, imgsz), auto=True, stride=32)(image=image)
    geo = letterbox_geometry(h, w, imgsz, 32)
    assert geo.input == theirs.shape[:2]
    # the padding lands on the same rows and columns: ultralytics pads with 114
    top, left = geo.letterbox.top, geo.letterbox.left
    nh, nw = geo.resized
    assert (theirs[:top] == 114).all() and (theirs[top + nh :] == 114).all()
    assert (theirs[:, :left] == 114).all() and (theirs[:, left + nw :] == 114).all()


def test_preprocessed_tensor_matches_ultralytics_pixels():
    rng = np.random.default_rng(1)
    image = np.kron(rng.integers(0, 255, (72, 128, 3), dtype=np.uint8), np.ones((10, 10, 1), np.uint8))
    ours, box = Preprocessor(416, 32, torch.device("cpu"), torch.float32)([image])
    theirs = LetterBox((416, 416), auto=True, stride=32)(image=image)
    theirs = torch.from_numpy(theirs[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255
    assert ours.shape == theirs.shape == (1, 3, 256, 416)
    # on the CPU both letterbox with OpenCV: RGB order, resize, padding and scale agree to the last bit
    assert (ours - theirs).abs().max() < 1e-6
    assert box.scale == pytest.approx(416 / 1280)


def test_the_model_input_is_torch_s_cast_and_scale_of_the_rgb_bytes_bit_for_bit():
    boxed = np.random.default_rng(4).integers(0, 256, (2, 32, 48, 3), dtype=np.uint8)
    boxed[0, 0, :, :] = np.arange(144).reshape(48, 3)  # every byte value appears
    boxed[1, 1, :, :] = np.arange(112, 256).reshape(48, 3)
    rgb = torch.from_numpy(boxed).permute(0, 3, 1, 2).flip(1)
    want = (rgb.to(torch.float32) * (1.0 / 255.0)).contiguous()
    got = model_input(boxed, torch.float32)
    assert got.is_contiguous() and got.dtype == torch.float32 and torch.equal(got, want)
    assert model_input(boxed[:1], torch.float64).dtype == torch.float64


def test_input_size_must_fit_the_stride():
    with pytest.raises(ValueError, match="multiple"):
        Preprocessor(300, 32, torch.device("cpu"), torch.float32)


@pytest.mark.parametrize(("h", "w", "imgsz"), [(1080, 1920, 640), (1800, 3200, 640), (720, 1280, 640)])
def test_torch_letterbox_matches_opencv_and_bilinear_at_whole_factors(h, w, imgsz):
    frame = np.random.default_rng(2).integers(0, 256, (h, w, 3), dtype=np.uint8)
    geo = letterbox_geometry(h, w, imgsz, 32)
    ours = letterbox_tensor(torch.from_numpy(frame)[None], geo, torch.float32)
    # the odd factors (3, 5) take a strided slice; bilinear and OpenCV land on the same pixels
    assert odd_whole_step((h, w), geo.resized) == {1080: 3, 1800: 5, 720: 0}[h]
    x = torch.from_numpy(frame)[None].permute(0, 3, 1, 2).flip(1).float()
    resized = torch.nn.functional.interpolate(x, size=geo.resized, mode="bilinear", align_corners=False)
    top, left = geo.letterbox.top, geo.letterbox.left
    inner = ours[:, :, top : top + geo.resized[0], left : left + geo.resized[1]]
    assert torch.equal(inner, resized * (1.0 / 255.0))
    assert (ours - letterbox_on_host([frame], geo, torch.float32)).abs().max() <= 1 / 255 + 1e-6
