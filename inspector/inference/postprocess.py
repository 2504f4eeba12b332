"""Raw head output → boxes in frame pixels: torchvision NMS, or the NMS-free YOLO26 head."""

from __future__ import annotations

import bisect

import numpy as np
import torch
import torchvision

from inspector.inference.preprocess import Letterbox


def select_boxes(
    raw: torch.Tensor,
    conf: float,
    iou: float,
    max_det: int,
    end2end: bool,
    max_candidates: int = 30000,
) -> torch.Tensor:
    """One image's detections as (N, 6) ``x1 y1 x2 y2 score class`` in model-input pixels.

    ``raw`` is the head's output for one image: (4 + nc, anchors) xywh + class scores, or for an
    end-to-end head (max_det, 6) already in the result layout.
    """
    if end2end:
        keep = raw[:, 4] > conf
        return raw[keep][:max_det].float()
    pred = raw.transpose(0, 1)  # (anchors, 4 + nc)
    scores, classes = pred[:, 4:].max(dim=1)
    keep = scores > conf
    if not bool(keep.any()):
        return raw.new_zeros((0, 6), dtype=torch.float32)
    xywh, scores, classes = pred[keep, :4].float(), scores[keep].float(), classes[keep]
    if scores.numel() > max_candidates:
        top = scores.topk(max_candidates).indices
        xywh, scores, classes = xywh[top], scores[top], classes[top]
    xyxy = torchvision.ops.box_convert(xywh, "cxcywh", "xyxy")
    kept = torchvision.ops.batched_nms(xyxy, scores, classes, iou)[:max_det]
    return torch.cat([xyxy[kept], scores[kept, None], classes[kept, None].float()], dim=1)


def top_candidates(raw: torch.Tensor, k: int, end2end: bool) -> torch.Tensor:
    """Each image's ``k`` best-scoring boxes as (N, k, 6) ``x1 y1 x2 y2 score class`` float32.

    Fixed-shape (no thresholds, no NMS), so it compiles into the same graph as the network and
    only ``k`` rows per image cross to the host; ``select_candidates`` finishes the job there.
    """
    if end2end:
        return raw.float()
    pred = raw.transpose(1, 2)  # (N, anchors, 4 + nc)
    scores, classes = pred[..., 4:].max(dim=2)
    top, index = scores.topk(min(k, scores.shape[1]), dim=1)
    boxes = pred[..., :4].gather(1, index[..., None].expand(-1, -1, 4)).float()
    cx, cy, w, h = boxes.unbind(2)
    xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=2)
    return torch.cat([xyxy, top.float()[..., None], classes.gather(1, index).float()[..., None]], dim=2)


def decide_in_graph(
    cand: torch.Tensor, thresholds: torch.Tensor, end2end: bool, rounds: int, decided: int | None = None
) -> torch.Tensor:
    """Greedy per-class NMS over ``top_candidates`` as fixed-shape tensor arithmetic, so it runs
    inside the frame's CUDA graph: (N, k, 6) → (N, k, 7), the last column 1 for a kept row, 0 for
    a dropped one, and -1 on every row of an image it could not settle (the host then does NMS).

    ``thresholds`` is a device tensor ``[conf, iou]``, read on every replay. Greedy NMS keeps a
    box unless a kept, higher-scoring box of its class overlaps it by more than ``iou``. Starting
    from "all kept" and applying that rule to every box at once, round after round, reaches greedy
    NMS's answer once a round changes nothing (each round settles at least one more box of every
    chain of overlaps); ``rounds`` bounds it, and an image still changing at the end is left undecided.

    Only the ``decided`` best rows are compared, all pairs of them (its cost grows with the square:
    at a batch of 64 on an H200, 1000 rows 0.94 ms, 300 0.14 ms); the candidates come best first,
    so when the row after them is at or below ``conf`` every later one is too, and is dropped. An
    image with more rows above ``conf`` than that (an end-to-end head's: any row after them above
    ``conf``) is left undecided, for the host to read all its rows.
    """
    k = cand.shape[1] if decided is None else min(decided, cand.shape[1])
    valid = cand[..., 4] > thresholds[0]
    if end2end:  # the head already chose one box per object
        flags = valid.float()
        if k < cand.shape[1]:  # a frame with a box after the rows compared is left to the host
            flags = torch.where(valid[:, k:].any(dim=1, keepdim=True), -1.0, flags)
        return torch.cat([cand, flags[..., None]], dim=2)
    head, valid_head = cand[:, :k], valid[:, :k]
    corners = head[..., :4]
    low = torch.maximum(corners[:, :, None, :2], corners[:, None, :, :2])
    high = torch.minimum(corners[:, :, None, 2:], corners[:, None, :, 2:])
    inter = (high - low).clamp(min=0).prod(dim=3)
    area = (corners[..., 2:] - corners[..., :2]).prod(dim=2)
    overlap = inter / (area[:, :, None] + area[:, None, :] - inter)  # IoU as torchvision computes it
    higher = torch.ones((k, k), dtype=torch.bool, device=cand.device).tril(-1)  # [i, j]: j ranks above i
    same_class = head[..., 5][:, :, None] == head[..., 5][:, None, :]
    beaten = (overlap > thresholds[1]) & same_class & higher & valid_head[:, None, :]
    keep = previous = valid_head
    for _ in range(rounds):
        previous, keep = keep, valid_head & ~(beaten & keep[:, None, :]).any(dim=2)
    settled = (keep == previous).all(dim=1, keepdim=True)
    if k < cand.shape[1]:  # the rows after the head: dropped, if the first of them is
        settled &= ~valid[:, k : k + 1]
        keep = torch.cat([keep, torch.zeros_like(valid[:, k:])], dim=1)
    return torch.cat([cand, torch.where(settled, keep.float(), -1.0)[..., None]], dim=2)


def undecided(cand: torch.Tensor) -> torch.Tensor:
    """``top_candidates`` with the column ``decide_in_graph`` adds, left to the host's NMS."""
    return torch.cat([cand, cand.new_full((*cand.shape[:2], 1), -1.0)], dim=2)


def select_candidates(cand: np.ndarray, conf: float, iou: float, max_det: int, end2end: bool) -> np.ndarray:
    """One image's (k, 7) rows from ``decide_in_graph``/``undecided`` → the detections ``select_boxes``
    gives (thresholds, per-class NMS), as (N, 6). Where the graph decided (with these ``conf`` and
    ``iou``), its choice is taken as it stands, read in plain Python: a numpy mask lets go of the
    GIL, and in a line of many cameras, whose capture threads all want it, getting it back costs
    more than reading the rows."""
    if len(cand) and cand[0, 6] >= 0:
        if not end2end:  # best first: every row after the first at or below ``conf`` was dropped
            cand = cand[: bisect.bisect_left(cand[:, 4], -conf, key=lambda score: -score)]
        flags = cand[:, 6].tolist()  # one column: the rows above ``conf`` are many, those kept few
        kept = [cand[i, :6].tolist() for i, flag in enumerate(flags) if flag > 0][:max_det]
        return np.array(kept, np.float32).reshape(-1, 6)
    rows = cand[:, :6]
    rows = rows[rows[:, 4] > conf]
    if end2end or not len(rows):
        return rows[:max_det]
    t = torch.from_numpy(rows)
    kept = torchvision.ops.batched_nms(t[:, :4], t[:, 4], t[:, 5].long(), iou)[:max_det]
    return rows[kept.numpy()]


def select_batch(
    cands: np.ndarray, conf: float, iou: float, max_det: int, end2end: bool, box: Letterbox
) -> list[np.ndarray]:
    """Each frame's (N, 6) detections in frame pixels from a batch's (B, k, 7) rows, as
    ``select_candidates`` then ``to_frame_pixels`` give them frame by frame. The frames the graph
    decided are read together, a few numpy calls for the whole batch: every numpy call lets go of
    the interpreter lock, and in a line of many cameras each let-go costs the wait to get it back.
    A frame the graph left undecided goes through the host's NMS on its own."""
    if not cands.shape[1]:
        return [np.zeros((0, 6), np.float32) for _ in cands]
    settled = (cands[:, 0, 6] >= 0).tolist()
    kept = cands[..., 6] > 0
    if not end2end:  # as ``select_candidates``: rows at or below ``conf`` are not read
        kept &= cands[..., 4] > conf
    kept[[not s for s in settled]] = False
    rows = to_frame_pixels(cands[kept][:, :6], box)  # frame after frame, each in its rows' order
    split = np.cumsum(kept.sum(axis=1))[:-1].tolist()
    return [
        found[:max_det] if done else to_frame_pixels(select_candidates(c, conf, iou, max_det, end2end), box)
        for found, done, c in zip(np.split(rows, split), settled, cands, strict=True)
    ]


def to_frame_pixels(dets: np.ndarray | torch.Tensor, box: Letterbox) -> np.ndarray:
    """Undo the letterbox and clip to the frame, on the host: a few dozen rows are cheaper in
    numpy than in torch's per-operation dispatch (0.09 ms a frame that way)."""
    if isinstance(dets, torch.Tensor):
        dets = dets.cpu().numpy()
    out = dets.astype(np.float32)  # a copy
    xs, ys = out[:, 0:4:2], out[:, 1:4:2]  # views: x1 x2, y1 y2
    np.clip((xs - box.left) / box.scale, 0, box.frame_width, out=xs)
    np.clip((ys - box.top) / box.scale, 0, box.frame_height, out=ys)
    return out
