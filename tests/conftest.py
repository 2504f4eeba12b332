"""Shared fixtures: the shipped demo model, a real video encoded by OpenCV, a fresh database."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import pytest
import torch

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

from inspector.capture.synthetic import SyntheticConveyor
from inspector.inference.model import DetectorModel, load_detector
from inspector.paths import demo_model_path


def pytest_configure(config: pytest.Config) -> None:
    # one compile cache per test session, so a compile test pays for a cold compile once
    cache = Path(config.rootpath) / ".pytest_cache" / "torchinductor"
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache))
    # the log file goes to a folder of this test run, never to the user's own
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="inspector-state-")
    # and what the station keeps for itself (the OPC UA server's certificate) to one of its data
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="inspector-data-")


@pytest.fixture(scope="session")
def demo_model() -> DetectorModel:
    return load_detector(demo_model_path(), torch.device("cpu"))


@pytest.fixture(scope="session")
def synthetic_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 frames of the synthetic line at 640x360, written by OpenCV's own encoder."""
    path = tmp_path_factory.mktemp("video") / "line.avi"
    line = SyntheticConveyor(seed=5, width=640, height=360, fps=0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 360))
    assert writer.isOpened(), "OpenCV cannot encode MJPG here"
    for i in range(24):
        writer.write(line.render(i).image)
    writer.release()
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "defects.sqlite"
