"""Letterboxing a BGR frame into the model's input, with torch on the model's device.

The long side is scaled to ``imgsz`` and the short side padded only up to the next multiple of
the model's stride, as ultralytics' own predict does: a 1280x720 camera at 416 becomes 416x256,
40% fewer pixels than a 416x416 square. For one camera the shape is fixed, so a compiled model
never recompiles while it runs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from inspector.errors import ConfigError

PAD_VALUE = 114  # ultralytics' letterbox grey, so detections match its own predict


@dataclass(frozen=True, slots=True)
class Letterbox:
    """Where the frame landed inside the model input: boxes are mapped back with it."""

    scale: float
    left: int
    top: int
    frame_width: int
    frame_height: int


@dataclass(frozen=True, slots=True)
class Geometry:
    """How a frame of one size maps into the model input."""

    resized: tuple[int, int]  # (h, w) of the frame once scaled
    input: tuple[int, int]  # (h, w) of the model input
    letterbox: Letterbox


def letterbox_geometry(frame_height: int, frame_width: int, imgsz: int, stride: int) -> Geometry:
    """Sizes and padding, rounded as ultralytics' ``LetterBox(auto=True)`` rounds them."""
    scale = min(imgsz / frame_height, imgsz / frame_width)
    new_w = max(1, round(frame_width * scale))
    new_h = max(1, round(frame_height * scale))
    in_w, in_h = math.ceil(new_w / stride) * stride, math.ceil(new_h / stride) * stride
    left, top = round((in_w - new_w) / 2 - 0.1), round((in_h - new_h) / 2 - 0.1)
    return Geometry((new_h, new_w), (in_h, in_w), Letterbox(scale, left, top, frame_width, frame_height))


class Preprocessor:
    """BGR uint8 HxWx3 frames of one size → RGB (N, 3, H, W) in the model's dtype on its device.

    On CUDA the frame goes through a pinned staging buffer and is letterboxed on the GPU; on the CPU
    OpenCV letterboxes it first, as ultralytics' own predict does.
    """

    def __init__(self, imgsz: int, stride: int, device: torch.device, dtype: torch.dtype) -> None:
        if imgsz < stride or imgsz % stride:
            raise ConfigError(f"input size must be a multiple of the model's stride {stride}, got {imgsz}")
        self.imgsz = imgsz
        self.stride = stride
        self.device = device
        self.dtype = dtype
        self._pinned: torch.Tensor | None = None

    def __call__(self, images: Sequence[np.ndarray]) -> tuple[torch.Tensor, Letterbox]:
        """Frames of one size → one (N, 3, h, w) input, uploaded in one copy; one letterbox fits all."""
        first = images[0]
        for image in images:
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"expected an HxWx3 uint8 BGR image, got {image.shape} {image.dtype}")
            if image.shape != first.shape:
                raise ValueError(f"a batch needs frames of one size, got {first.shape} and {image.shape}")
        geo = letterbox_geometry(first.shape[0], first.shape[1], self.imgsz, self.stride)
        if self.device.type != "cuda":
            return letterbox_on_host(images, geo, self.dtype), geo.letterbox
        return letterbox_tensor(self._upload(images), geo, self.dtype), geo.letterbox

    def _upload(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        with warnings.catch_warnings():
            # frames are frozen on purpose; the tensor made from one is only ever read
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            hosts = [torch.from_numpy(np.ascontiguousarray(image)) for image in images]
        shape = (len(hosts), *hosts[0].shape)
        if self._pinned is None or self._pinned.shape != shape:
            self._pinned = torch.empty(shape, dtype=torch.uint8, pin_memory=True)
        for slot, host in zip(self._pinned, hosts, strict=True):
            # torch's threaded copy is the faster one into pinned memory (docs/PERFORMANCE.md); the
            # compiled backend's shared buffer is the exception, see CompiledBackend
            slot.copy_(host)
        return self._pinned.to(self.device, non_blocking=True)


def letterbox_on_host(images: Sequence[np.ndarray], geo: Geometry, dtype: torch.dtype) -> torch.Tensor:
    """HxWx3 uint8 BGR frames → the (N, 3, h, w) RGB CPU input in ``dtype``, scaled to 0..1.

    OpenCV resizes and pads, as ultralytics' ``LetterBox`` does: on 2 cores a 720p frame at 416 took
    0.7 ms this way (the whole ``Preprocessor`` call) against 3.2 ms with torch's uint8 ``interpolate``.
    """
    boxed = [letterboxed_bytes(image, geo) for image in images]
    return model_input(boxed[0][None] if len(boxed) == 1 else np.stack(boxed), dtype)


def letterboxed_bytes(image: np.ndarray, geo: Geometry) -> np.ndarray:
    """One HxWx3 uint8 BGR frame resized and padded by OpenCV into the model input's size, still bytes."""
    (new_h, new_w), (in_h, in_w), box = geo.resized, geo.input, geo.letterbox
    if image.shape[:2] != (new_h, new_w):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    bottom, right = in_h - new_h - box.top, in_w - new_w - box.left
    return cv2.copyMakeBorder(
        image, box.top, bottom, box.left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
    )


def model_input(boxed: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """(N, h, w, 3) uint8 BGR letterboxed frames → the (N, 3, h, w) RGB input in ``dtype``, 0..1.

    One numpy pass that reads the bytes in channel-flipped, transposed order and writes the scaled
    floats: the same float32 values as torch's cast-then-multiply, in a fraction of its time on a
    CPU line, where it runs for every frame (docs/PERFORMANCE.md)."""
    rgb = boxed[..., ::-1].transpose(0, 3, 1, 2)
    out = np.empty(rgb.shape, np.float32)
    np.multiply(rgb, np.float32(1.0 / 255.0), out=out)
    return torch.from_numpy(out).to(dtype)


def letterbox_tensor(
    frame: torch.Tensor, geo: Geometry, dtype: torch.dtype, rows: torch.Tensor | None = None
) -> torch.Tensor:
    """(N, H, W, 3) uint8 BGR frames on the GPU → the (N, 3, h, w) RGB model input in ``dtype``, 0..1;
    with ``rows``, only those frames, in that order (picked after the slice below, so that only the
    sampled pixels of each are read).

    Resized after the cast, which a compiler fuses into one kernel that reads only the source pixels
    it needs. At an odd whole factor (1080p at 640: 3) bilinear samples land on pixel centres, so
    the resize is a strided slice, bit for bit: 1/9 of the frame is read instead of 4/9, which counts
    when the kernel reads the frame where it lies in host memory.
    """
    (new_h, new_w), (in_h, in_w), box = geo.resized, geo.input, geo.letterbox
    step = odd_whole_step(tuple(frame.shape[1:3]), (new_h, new_w))
    if step:
        frame = frame[:, step // 2 :: step, step // 2 :: step]
    if rows is not None:
        frame = frame.index_select(0, rows)
    x = frame.permute(0, 3, 1, 2).flip(1).to(dtype)  # (N, 3, H, W) RGB
    if (new_h, new_w) != tuple(frame.shape[1:3]):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)
    pad = (box.left, in_w - new_w - box.left, box.top, in_h - new_h - box.top)
    x = F.pad(x, pad, value=float(PAD_VALUE))
    return (x * (1.0 / 255.0)).contiguous()


def odd_whole_step(frame_hw: tuple[int, int], resized_hw: tuple[int, int]) -> int:
    """The factor k when the frame is k times the resized size on both axes and k is odd, else 0.

    Bilinear without corner alignment samples output pixel d at k*d + (k-1)/2, a whole pixel for
    odd k, with weight 1 on it and 0 on its neighbour: the same values as every k-th pixel."""
    (h, w), (rh, rw) = frame_hw, resized_hw
    step = h // rh
    return step if step % 2 and step > 1 and h == step * rh and w == step * rw else 0
