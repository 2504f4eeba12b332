"""``inspector synth``: frames of the synthetic line as a YOLO dataset (images, labels, data.yaml)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2

from inspector.capture.synthetic import LINE_CLASSES, SyntheticConveyor


def write_dataset(
    out: Path,
    seed: int,
    frames: int,
    stride: int = 5,
    width: int = 1280,
    height: int = 720,
    workers: int = 1,
) -> Path:
    """Write ``frames`` frames (every ``stride``-th frame of the line) and return the data.yaml.

    Labels are YOLO-format ``class cx cy w h`` normalised to the frame, for every defect and every
    part at least half in view; a frame with none gets an empty label file, which YOLO tools read
    as a background image. Every frame is a pure
    function of the seed and its index, so ``workers`` processes write the same files as one.
    """
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    chunks = [(out, seed, list(range(i, frames, workers)), stride, width, height) for i in range(workers)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_write_frames, chunks))
    else:
        _write_frames(chunks[0])
    data = out / "data.yaml"
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(LINE_CLASSES))
    data.write_text(
        f"# synthetic line, seed {seed}, {frames} frames (every {stride}th)\n"
        f"path: {out.resolve()}\ntrain: images\nval: images\nnames:\n{names}\n"
    )
    return data


def _write_frames(job: tuple[Path, int, list[int], int, int, int]) -> None:
    out, seed, numbers, stride, width, height = job
    line = SyntheticConveyor(seed=seed, width=width, height=height, fps=0)
    ids = {name: i for i, name in enumerate(LINE_CLASSES)}
    for n in numbers:
        frame = line.render(n * stride)
        stem = f"s{seed}_{frame.index:07d}"
        cv2.imwrite(str(out / "images" / f"{stem}.jpg"), frame.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        rows = []
        for b in frame.truth or ():
            cx, cy = (b.x1 + b.x2) / 2 / width, (b.y1 + b.y2) / 2 / height
            bw, bh = (b.x2 - b.x1) / width, (b.y2 - b.y1) / height
            rows.append(f"{ids[b.class_name]} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
        (out / "labels" / f"{stem}.txt").write_text("\n".join(rows) + ("\n" if rows else ""))
