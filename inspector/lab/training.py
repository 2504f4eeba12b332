"""``inspector train-demo``: the shipped demo model, reproducible from a seed, offline.

Trains a small ultralytics detector from its YAML (no pretrained weights) on frames of the
synthetic line, validates it on frames of a seed it never saw, and writes the checkpoint and its
metrics beside each other.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from inspector.capture.synthetic import DEFECT_CLASSES, LINE_CLASSES, PART_CLASSES
from inspector.inference.model import ultralytics_yolo
from inspector.lab.synth_dataset import write_dataset

TRAIN_SEED_OFFSET = 1000  # the line's seed for training frames: seed + offset
VAL_SEED_OFFSET = 2000  # ... for validation frames during training
TEST_SEED_OFFSET = 3000  # ... for the held-out evaluation reported in the model card


@dataclass(frozen=True)
class TrainConfig:
    out: Path
    seed: int = 0
    model: str = "yolov8n.yaml"
    imgsz: int = 416
    epochs: int = 60
    batch: int = 64
    train_frames: int = 3000
    stride: int = 20  # line frames between two dataset frames: more distinct parts, fewer repeats
    val_frames: int = 300
    test_frames: int = 300
    device: str = "0"
    workers: int = 8
    init: str | None = None  # weights to start from (every layer whose shape fits), e.g. the last demo model


def train_demo(cfg: TrainConfig) -> dict[str, Any]:
    YOLO = ultralytics_yolo()

    cfg.out.mkdir(parents=True, exist_ok=True)
    data_dir = cfg.out / "data"
    t0 = time.perf_counter()
    jobs = max(1, min(cfg.workers, os.cpu_count() or 1))
    for name, offset, frames in (
        ("train", TRAIN_SEED_OFFSET, cfg.train_frames),
        ("val", VAL_SEED_OFFSET, cfg.val_frames),
        ("test", TEST_SEED_OFFSET, cfg.test_frames),
    ):
        write_dataset(data_dir / name, cfg.seed + offset, frames, stride=cfg.stride, workers=jobs)
    test_yaml = data_dir / "test" / "data.yaml"
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(LINE_CLASSES))
    data = data_dir / "data.yaml"
    data.write_text(f"path: {data_dir.resolve()}\ntrain: train/images\nval: val/images\nnames:\n{names}\n")
    t_data = time.perf_counter() - t0

    model = YOLO(cfg.model)
    if cfg.init:
        model.load(cfg.init)  # transfers the layers whose shapes match; a head for new classes starts fresh
    model.train(
        data=str(data),
        epochs=cfg.epochs,
        imgsz=cfg.imgsz,
        batch=cfg.batch,
        seed=cfg.seed,
        deterministic=True,
        device=cfg.device,
        workers=cfg.workers,
        project=str(cfg.out),
        name="train",
        exist_ok=True,
        plots=False,
        amp=False,
        cache="ram",
        verbose=False,
    )
    t_train = time.perf_counter() - t0 - t_data
    best = cfg.out / "train" / "weights" / "best.pt"
    shipped = cfg.out / "inspector-demo.pt"
    shutil.copyfile(best, shipped)
    test = YOLO(str(shipped)).val(
        data=str(test_yaml),
        imgsz=cfg.imgsz,
        batch=32,
        device=cfg.device,
        plots=False,
        project=str(cfg.out),
        name="test",
        exist_ok=True,
        verbose=False,
    )
    report = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "seeds": {
            "train": cfg.seed + TRAIN_SEED_OFFSET,
            "val": cfg.seed + VAL_SEED_OFFSET,
            "test": cfg.seed + TEST_SEED_OFFSET,
        },
        "test": {
            "mAP50": round(float(test.box.map50), 4),
            "mAP50-95": round(float(test.box.map), 4),
            "precision": round(float(test.box.mp), 4),
            "recall": round(float(test.box.mr), 4),
            "per_class_mAP50": {
                LINE_CLASSES[int(c)]: round(float(v), 4)
                for c, v in zip(test.box.ap_class_index, test.box.ap50, strict=True)
            },
            "defects": _group_metrics(test.box, DEFECT_CLASSES),
            "parts": _group_metrics(test.box, PART_CLASSES),
        },
        "seconds": {"data": round(t_data, 1), "train": round(t_train, 1)},
        "checkpoint_bytes": shipped.stat().st_size,
    }
    (cfg.out / "metrics.json").write_text(json.dumps(report, indent=2))
    return report


def _group_metrics(box: Any, classes: tuple[str, ...]) -> dict[str, float]:
    """Mean precision, recall, mAP50 and mAP50-95 over some of the classes (the defects, the parts):
    the part classes must not flatter or hide how well the defects are found."""
    rows = [
        (float(box.p[i]), float(box.r[i]), float(box.ap50[i]), float(box.ap[i]))
        for i, c in enumerate(box.ap_class_index)
        if LINE_CLASSES[int(c)] in classes
    ]
    if not rows:
        return {}
    means = [sum(col) / len(rows) for col in zip(*rows, strict=True)]
    return dict(zip(("precision", "recall", "mAP50", "mAP50-95"), (round(m, 4) for m in means), strict=True))
