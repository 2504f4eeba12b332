import numpy as np
import torch

from inspector.inference.postprocess import (
    decide_in_graph,
    select_batch,
    select_boxes,
    select_candidates,
    to_frame_pixels,
    top_candidates,
    undecided,
)
from inspector.inference.preprocess import Letterbox


def _raw(boxes_xywh, scores):
    """Head output layout: (4 + nc, anchors)."""
    return torch.cat([torch.tensor(boxes_xywh).T, torch.tensor(scores).T], dim=0).float()


def test_nms_keeps_the_best_of_overlapping_boxes_per_class():
    raw = _raw(
        [[50, 50, 20, 20], [51, 50, 20, 20], [51, 50, 20, 20], [200, 200, 10, 10]],
        [[0.9, 0.0], [0.8, 0.0], [0.0, 0.7], [0.1, 0.0]],
    )
    dets = select_boxes(raw, conf=0.25, iou=0.5, max_det=300, end2end=False)
    assert dets.shape == (2, 6)
    assert dets[:, 5].tolist() == [0.0, 1.0]  # the 0.8 duplicate is gone, the other class stays
    assert dets[0, :4].tolist() == [40.0, 40.0, 60.0, 60.0]


def test_nothing_above_threshold():
    raw = _raw([[5, 5, 2, 2]], [[0.1]])
    assert select_boxes(raw, 0.25, 0.7, 300, end2end=False).shape == (0, 6)


def test_end_to_end_output_is_only_thresholded():
    raw = torch.tensor(
        [[1, 2, 3, 4, 0.9, 2], [1, 2, 3, 4, 0.2, 1], [5, 6, 7, 8, 0.5, 0]], dtype=torch.float32
    )
    dets = select_boxes(raw, 0.25, 0.7, 300, end2end=True)
    assert dets[:, 4].tolist() == [0.8999999761581421, 0.5]


def test_boxes_map_back_to_frame_pixels_and_clip():
    box = Letterbox(scale=0.5, left=0, top=20, frame_width=200, frame_height=100)
    dets = torch.tensor([[10.0, 30.0, 50.0, 60.0, 0.9, 0.0], [90.0, 10.0, 120.0, 80.0, 0.8, 1.0]])
    out = to_frame_pixels(dets, box)
    assert out.dtype == np.float32 and out[0, 4:].tolist() == [dets[0, 4].item(), 0.0]
    assert out[0, :4].tolist() == [20.0, 20.0, 100.0, 80.0]
    assert out[1, :4].tolist() == [180.0, 0.0, 200.0, 100.0]


def test_top_candidates_then_select_give_what_select_boxes_gives_per_image():
    torch.manual_seed(0)
    xy = torch.rand(2, 2, 500) * 600
    wh = torch.rand(2, 2, 500) * 60 + 5
    raw = torch.cat([xy, wh, torch.rand(2, 3, 500) ** 4], dim=1)  # (N, 4 + nc, anchors)
    cand = top_candidates(raw, 300, end2end=False)
    assert cand.shape == (2, 300, 6)
    for image in range(2):
        want = select_boxes(raw[image], 0.3, 0.6, 300, end2end=False)
        got = select_candidates(undecided(cand)[image].numpy(), 0.3, 0.6, 300, end2end=False)
        assert len(want) > 5 and np.array_equal(got, want.numpy())


def _dense_candidates(seed: int) -> torch.Tensor:
    """Two images of crowded, overlapping boxes of three classes, as ``top_candidates`` gives them."""
    torch.manual_seed(seed)
    xy = torch.rand(2, 2, 400) * 200
    wh = torch.rand(2, 2, 400) * 60 + 10
    return top_candidates(torch.cat([xy, wh, torch.rand(2, 3, 400)], dim=1), 300, end2end=False)


def test_nms_in_the_graph_keeps_exactly_what_torchvision_keeps():
    for seed, conf, iou in ((0, 0.3, 0.5), (1, 0.1, 0.7), (2, 0.5, 0.3)):
        cand = _dense_candidates(seed)
        decided = decide_in_graph(cand, torch.tensor([conf, iou]), end2end=False, rounds=100)
        assert decided.shape == (2, 300, 7)
        for image in range(2):
            assert decided[image, 0, 6] >= 0, "settled within 100 rounds"
            want = select_candidates(undecided(cand)[image].numpy(), conf, iou, 300, end2end=False)
            got = select_candidates(decided[image].numpy(), conf, iou, 300, end2end=False)
            assert len(want) > 10 and np.array_equal(got, want)
        # one round is "drop whatever any higher box overlaps", which drops too much here
        assert (decide_in_graph(cand, torch.tensor([conf, iou]), False, rounds=1)[:, 0, 6] < 0).all()


def test_nms_over_the_best_rows_alone_keeps_what_it_keeps_over_all_or_leaves_the_image_to_the_host():
    for seed, conf, iou in ((3, 0.9, 0.5), (4, 0.85, 0.6), (5, 0.8, 0.7)):
        cand = _dense_candidates(seed)
        above, thresholds = int((cand[..., 4] > conf).sum(1).max()), torch.tensor([conf, iou])
        for decided_rows in (above, above - 1, 64):
            decided = decide_in_graph(cand, thresholds, False, rounds=100, decided=decided_rows)
            assert decided.shape == (2, 300, 7)
            for image in range(2):
                n_above = int((cand[image, :, 4] > conf).sum())
                want = select_candidates(undecided(cand)[image].numpy(), conf, iou, 300, end2end=False)
                rows = decided[image].numpy()
                # settled exactly when every row above ``conf`` was among those compared
                assert (rows[0, 6] >= 0) == (n_above <= decided_rows), (seed, decided_rows, image)
                if rows[0, 6] >= 0:
                    assert (rows[decided_rows:, 6] == 0).all()
                assert np.array_equal(select_candidates(rows, conf, iou, 300, end2end=False), want)
                assert len(want) > 2


def test_an_image_the_rounds_do_not_settle_is_left_to_the_host():
    # a chain: each box overlaps the next (IoU 0.82) and the score falls along it, so greedy NMS
    # keeps every other box, and each round settles only one more link of the chain
    boxes = torch.tensor([[i * 2.0, 0.0, i * 2.0 + 20.0, 20.0] for i in range(12)])
    scores = torch.linspace(0.9, 0.5, 12)[:, None]
    cand = torch.cat([boxes, scores, torch.zeros(12, 1)], dim=1)[None]
    decided = decide_in_graph(cand, torch.tensor([0.25, 0.8]), end2end=False, rounds=3)
    assert (decided[0, :, 6] == -1).all()
    got = select_candidates(decided[0].numpy(), 0.25, 0.8, 300, end2end=False)
    assert got[:, 0].tolist() == [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]  # the host's NMS took over
    settled = decide_in_graph(cand, torch.tensor([0.25, 0.8]), end2end=False, rounds=13)
    assert np.array_equal(select_candidates(settled[0].numpy(), 0.25, 0.8, 300, end2end=False), got)


def test_an_end_to_end_head_is_only_thresholded_in_the_graph():
    raw = torch.tensor([[[1, 2, 3, 4, 0.9, 2], [1, 2, 3, 4, 0.2, 1], [5, 6, 7, 8, 0.5, 0]]])
    decided = decide_in_graph(raw.float(), torch.tensor([0.25, 0.7]), end2end=True, rounds=8)
    assert decided[0, :, 6].tolist() == [1.0, 0.0, 1.0]
    # its rows need not come best first: a box after the rows compared leaves the frame to the host
    assert (
        decide_in_graph(raw.float(), torch.tensor([0.25, 0.7]), True, 8, decided=2)[0, :, 6].tolist()
        == [-1.0] * 3
    )
    assert decide_in_graph(raw.float(), torch.tensor([0.6, 0.7]), True, 8, decided=2)[0, :, 6].tolist() == [
        1.0,
        0.0,
        0.0,
    ]
    assert select_candidates(decided[0].numpy(), 0.25, 0.7, 1, end2end=True).tolist() == [raw[0, 0].tolist()]


def test_a_batch_read_at_once_gives_what_each_frame_read_alone_gives():
    box = Letterbox(scale=0.5, left=3, top=7, frame_width=500, frame_height=300)
    cases = ((0, 0.3, 0.5, 300, False), (1, 0.1, 0.7, 4, False), (2, 0.2, 0.6, 300, True))
    for seed, conf, iou, max_det, end2end in cases:
        cand = torch.cat([_dense_candidates(seed), _dense_candidates(seed + 10)])  # four frames
        decided = decide_in_graph(cand, torch.tensor([conf, iou]), end2end, rounds=100).numpy()
        decided[2, :, 6] = -1  # one frame the graph left to the host
        decided[3, :, 6] = np.where(decided[3, :, 4] > 0.95, decided[3, :, 6], 0)  # one that keeps few
        got = select_batch(decided, conf, iou, max_det, end2end, box)
        for image, found in enumerate(got):
            want = to_frame_pixels(select_candidates(decided[image], conf, iou, max_det, end2end), box)
            assert found.dtype == np.float32 and np.array_equal(found, want), (seed, image)
        assert sum(map(len, got)) > 8
    assert [f.shape for f in select_batch(decided[:, :0], 0.25, 0.7, 300, False, box)] == [(0, 6)] * 4
