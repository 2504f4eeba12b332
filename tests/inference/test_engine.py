"""The shipped model, through inspector's own engine, against the line's ground truth and
against ultralytics' own predict on the same frames."""

import numpy as np
import pytest
from ultralytics import YOLO

from inspector.capture.synthetic import SyntheticConveyor
from inspector.inference.engine import Engine
from inspector.lab.evaluation import match
from inspector.paths import demo_model_path


@pytest.fixture(scope="module")
def engine(demo_model):
    return Engine(demo_model, imgsz=416)


def test_demo_model_finds_the_defects_of_unseen_frames(engine):
    line = SyntheticConveyor(seed=424242, fps=0)  # a seed no training used
    found_total = truth_total = matched = 0
    for index in range(0, 400, 40):
        frame = line.render(index)
        out = engine.detect(frame.image)
        truth = [(t.class_name, (t.x1, t.y1, t.x2, t.y2)) for t in frame.truth]
        found = [(d.class_name, d.box) for d in out.detections]
        matched += len(match(truth, found).pairs)
        truth_total += len(truth)
        found_total += len(found)
    assert truth_total >= 10
    assert matched / truth_total >= 0.85, (matched, truth_total)
    assert matched / found_total >= 0.85, (matched, found_total)


def test_detections_agree_with_ultralytics_predict(engine):
    yolo = YOLO(str(demo_model_path()))
    line = SyntheticConveyor(seed=77, fps=0)
    for index in (0, 150, 300):
        image = np.ascontiguousarray(line.render(index).image)
        ours = [(d.class_name, d.box, d.confidence) for d in engine.detect(image).detections]
        res = yolo.predict(image, imgsz=416, conf=0.25, iou=0.7, device="cpu", verbose=False)[0]
        theirs = [
            (res.names[int(c)], tuple(b), float(s))
            for b, s, c in zip(
                res.boxes.xyxy.tolist(), res.boxes.conf.tolist(), res.boxes.cls.tolist(), strict=True
            )
        ]
        m = match([(n, b) for n, b, _ in theirs], [(n, b) for n, b, _ in ours], 0.9)
        # a box right at the threshold may flip; everything else must match
        assert m.missed + m.extra <= 1, (ours, theirs)
        conf = {b: c for _, b, c in ours}
        ref = {b: c for _, b, c in theirs}
        for t, f in m.pairs:
            assert abs(conf[f[1]] - ref[t[1]]) < 0.02


def test_stage_times_are_reported(engine):
    out = engine.detect(SyntheticConveyor(fps=0).render(3).image)
    assert out.backend == "eager"
    assert out.times.pre_ms > 0 and out.times.infer_ms > 0 and out.times.post_ms > 0


def test_a_batch_finds_what_each_frame_finds_alone(engine):
    line = SyntheticConveyor(seed=99, fps=0)
    images = [line.render(i).image for i in (0, 90, 180)]
    batch = engine.detect_batch(images)
    assert len(batch) == 3
    for image, out in zip(images, batch, strict=True):
        alone = engine.detect(image).detections
        assert [d.class_name for d in out.detections] == [d.class_name for d in alone]
        for ours, ref in zip(out.detections, alone, strict=True):
            assert np.allclose(ours.box, ref.box, atol=0.5) and abs(ours.confidence - ref.confidence) < 1e-3
    assert sum(len(out.detections) for out in batch) > 0
    with pytest.raises(ValueError, match="one size"):
        engine.detect_batch([images[0], images[0][:360]])
