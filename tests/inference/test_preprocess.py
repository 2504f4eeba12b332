import numpy as np
import pytest
import torch
from ultralytics.data.augment import LetterBox

from inspector.inference.preprocess import Preprocessor, letterbox_geometry


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


def test_input_size_must_fit_the_stride():
    with pytest.raises(ValueError, match="multiple"):
        Preprocessor(300, 32, torch.device("cpu"), torch.float32)
