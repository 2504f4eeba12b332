"""A pool slot is reused only when no array views it any more, and sources really capture into it."""

import gc

import cv2
import numpy as np

from inspector.capture.base import PooledSource, capture_into
from inspector.capture.folder import ImageFolderSource
from inspector.capture.opencv import VideoFileSource
from inspector.capture.synthetic import SyntheticConveyor
from inspector.inference.frame_pool import FramePool

SHAPE = (48, 64, 3)


def test_a_slot_comes_back_only_when_its_last_view_is_gone():
    pool = FramePool(slots=2)
    assert pool.acquire(SHAPE) is None  # empty until allocated
    frames = pool.allocate(SHAPE[:2], reserved=1)
    assert tuple(frames.shape) == (3, *SHAPE) and frames.is_shared()
    a, b = pool.acquire(SHAPE), pool.acquire(SHAPE)
    assert a is not None and b is not None and pool.acquire(SHAPE) is None  # both slots in use
    assert {pool.index_of(a), pool.index_of(b)} == {1, 2}  # row 0 is the reserved one
    a[...] = 7
    assert (frames[pool.index_of(a)].numpy() == 7).all()  # the slot is the shared memory itself
    crop = a[10:20, 5:9]  # what a log record or the live view may keep
    a.setflags(write=False)
    del a
    gc.collect()
    assert pool.acquire(SHAPE) is None  # the crop still shows that slot
    del crop
    gc.collect()
    again = pool.acquire(SHAPE)
    assert again is not None and pool.index_of(again) is not None


def test_only_whole_slots_of_the_current_size_are_found():
    pool = FramePool(slots=2)
    pool.allocate(SHAPE[:2], reserved=1)
    assert pool.acquire((48, 65, 3)) is None  # another size: the source allocates as usual
    frame = pool.acquire(SHAPE)
    assert frame is not None
    assert pool.index_of(np.zeros(SHAPE, np.uint8)) is None
    assert pool.index_of(frame[:, :32]) is None and pool.index_of(frame[::-1]) is None
    old = pool.index_of(frame)
    pool.allocate(SHAPE[:2], reserved=1)  # a new compile: frames of the old pool are copied again
    assert old is not None and pool.index_of(frame) is None
    del frame
    gc.collect()
    got = [pool.acquire(SHAPE) for _ in range(3)]
    assert got[0] is not None and got[1] is not None
    assert got[2] is None  # the old slot did not join the new pool
    pool.clear()
    assert pool.acquire(SHAPE) is None and pool.frames is None


def test_the_synthetic_line_renders_into_the_pool():
    line = SyntheticConveyor(seed=3, width=320, height=240, fps=0)
    plain = line.render(5).image
    pool = FramePool(slots=2)
    pool.allocate((240, 320), reserved=1)
    capture_into(line, pool)
    pooled = line.render(5)
    assert pool.index_of(pooled.image) is not None
    assert np.array_equal(pooled.image, plain) and not pooled.image.flags.writeable


def test_a_video_decodes_into_the_pool_from_its_second_frame(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(3):
        writer.write(np.full(SHAPE, 40 * (i + 1), np.uint8))
    writer.release()
    pool = FramePool(slots=2)
    pool.allocate(SHAPE[:2], reserved=1)
    video = VideoFileSource(path)
    capture_into(video, pool)
    video.open()
    try:
        frames = [video.read() for _ in range(3)]
    finally:
        video.close()
    # the first frame tells the size; the slots hold the next two
    assert [pool.index_of(f.image) is not None for f in frames] == [False, True, True]
    assert [round(float(f.image.mean()) / 40) for f in frames] == [1, 2, 3]


def test_a_source_that_cannot_capture_into_a_pool_is_left_alone(tmp_path):
    folder = ImageFolderSource(tmp_path)
    assert not isinstance(folder, PooledSource)
    capture_into(folder, FramePool())
    assert not hasattr(folder, "frame_pool")
