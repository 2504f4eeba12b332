"""Raw head output → boxes in frame pixels: torchvision NMS, or the NMS-free YOLO26 head."""

from __future__ import annotations

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


def select_candidates(
    cand: torch.Tensor, conf: float, iou: float, max_det: int, end2end: bool
) -> torch.Tensor:
    """``top_candidates`` → the same detections ``select_boxes`` gives (thresholds, per-class NMS)."""
    cand = cand[cand[:, 4] > conf]
    if end2end or not len(cand):
        return cand[:max_det]
    kept = torchvision.ops.batched_nms(cand[:, :4], cand[:, 4], cand[:, 5].long(), iou)[:max_det]
    return cand[kept]


def to_frame_pixels(dets: torch.Tensor, box: Letterbox) -> np.ndarray:
    """Undo the letterbox and clip to the frame, on the host: a few dozen rows are cheaper in
    numpy than in torch's per-operation dispatch (0.09 ms a frame that way)."""
    out = dets.cpu().numpy().copy()
    out[:, [0, 2]] = ((out[:, [0, 2]] - box.left) / box.scale).clip(0, box.frame_width)
    out[:, [1, 3]] = ((out[:, [1, 3]] - box.top) / box.scale).clip(0, box.frame_height)
    return out
