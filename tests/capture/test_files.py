import functools
import http.server
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.capture.base import SourceError
from inspector.capture.folder import ImageFolderSource
from inspector.capture.opencv import CameraSource, VideoFileSource
from inspector.capture.spec import open_source


def _read_all(source, limit=1000):
    source.open()
    frames = []
    try:
        while len(frames) < limit and (frame := source.read()) is not None:
            frames.append(frame)
    finally:
        source.close()
    return frames


def test_video_file_delivers_every_frame_then_ends(synthetic_video):
    source = open_source(str(synthetic_video))
    assert isinstance(source, VideoFileSource) and not source.live
    frames = _read_all(source)
    assert [f.index for f in frames] == list(range(24))
    assert frames[0].image.shape == (360, 640, 3)


def test_video_file_loops_when_asked(synthetic_video):
    frames = _read_all(VideoFileSource(synthetic_video, loop=True), limit=60)
    assert len(frames) == 60
    # after the wrap the pixels repeat (MJPG decodes identically each time)
    assert np.array_equal(frames[0].image, frames[24].image)


def test_missing_and_undecodable_videos_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        open_source(str(tmp_path / "absent.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceError, match="cannot"):
        VideoFileSource(junk).open()


def test_image_folder_reads_in_name_order_and_skips_unreadable(tmp_path):
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), np.full((40, 60, 3), i * 50, np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    messages: list[str] = []
    source = open_source(str(tmp_path), on_status=messages.append)
    assert isinstance(source, ImageFolderSource)
    frames = _read_all(source)
    assert [Path(f.image_path).name for f in frames] == ["img0.png", "img1.png", "img2.png"]
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 50, 100]
    assert any("broken.jpg" in m for m in messages)


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="no images"):
        ImageFolderSource(tmp_path).open()


def test_a_folder_where_no_image_can_be_read_is_refused_at_open(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "b.png").write_bytes(b"")
    with pytest.raises(SourceError, match=r"none of the 2 images .* can be read"):
        ImageFolderSource(tmp_path).open()


def test_absent_camera_cannot_be_opened():
    with pytest.raises(SourceError, match="cannot open camera 97"):
        open_source("97").open()


def test_unknown_source_is_a_clear_error(tmp_path):
    text_file = tmp_path / "a.txt"
    text_file.write_text("x")
    with pytest.raises(SourceError, match="not a video"):
        open_source(str(text_file))
    with pytest.raises(SourceError, match="unknown source"):
        open_source("no-such-thing")


def test_lost_stream_is_reopened_with_backoff_and_reported(synthetic_video):
    # A capture target that runs dry (a file stands in for a camera that stopped) is reopened.
    messages: list[str] = []
    cam = CameraSource(str(synthetic_video), on_status=messages.append, first_backoff_s=0.01)
    frames = _read_all(cam, limit=30)
    assert len(frames) == 30
    assert any("lost; reconnecting" in m for m in messages)
    assert any("reconnected" in m for m in messages)


def test_a_stream_that_never_returns_gives_up_with_a_message(tmp_path, synthetic_video):
    moved = tmp_path / "line.avi"
    moved.write_bytes(synthetic_video.read_bytes())
    messages: list[str] = []
    cam = CameraSource(str(moved), on_status=messages.append, reconnect_attempts=3, first_backoff_s=0.01)
    cam.open()
    for _ in range(24):
        assert cam.read() is not None
    moved.unlink()  # the camera is gone for good
    with pytest.raises(SourceError, match="no frame after 3 reconnects"):
        cam.read()
    assert sum("reconnecting" in m for m in messages) == 3


def test_cancel_ends_a_reconnect_wait(synthetic_video):
    cam = CameraSource(str(synthetic_video), first_backoff_s=30)
    cam.open()
    for _ in range(24):
        cam.read()
    threading.Timer(0.2, cam.cancel).start()
    assert cam.read() is None
    cam.close()


@pytest.fixture
def http_video(synthetic_video):
    """The synthetic video served over HTTP on this machine's loopback, as a network camera would."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(synthetic_video.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{synthetic_video.name}"
    server.shutdown()
    server.server_close()


def test_http_stream_is_read_through_opencv(http_video):
    source = open_source(http_video)
    assert isinstance(source, CameraSource) and source.live
    stream = CameraSource(http_video, reconnect_attempts=0)
    stream.open()
    frames = [stream.read() for _ in range(24)]
    assert [f.index for f in frames] == list(range(24)) and frames[0].image.shape == (360, 640, 3)
    with pytest.raises(SourceError, match="lost"):  # the stream ended and may not reconnect
        stream.read()
    stream.close()


def test_unreachable_stream_is_a_clear_error():
    with pytest.raises(SourceError, match=r"cannot open stream rtsp://127\.0\.0\.1:9/line"):
        open_source("rtsp://127.0.0.1:9/line").open()
