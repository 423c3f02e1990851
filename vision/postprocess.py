"""Postprocess stage: decode raw YOLO outputs, class-aware NMS, boxes back to frame pixels."""

from __future__ import annotations

import numpy as np

from vision.preprocess import Letterbox

__all__ = ["decode", "nms", "scale_boxes", "box_iou"]

#: Offset per class so that boxes of different classes never overlap in NMS
#: (ultralytics' ``max_wh``).
_MAX_WH = 7680.0


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``xyxy`` boxes ``a (n, 4)`` and ``b (m, 4)`` -> ``(n, m)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices kept, highest score first.

    Notes
    -----
    The classic greedy NMS (Neubeck & Van Gool, 2006) as ``torchvision.ops.nms``.
    """
    order = np.argsort(-scores, kind="stable")
    boxes = boxes.astype(np.float64)
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    keep: list[int] = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        tl = np.maximum(boxes[i, :2], boxes[rest, :2])
        br = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(br - tl, 0, None), axis=1)
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode(
    output: np.ndarray,
    *,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.7,
    max_detections: int = 300,
    end2end: bool = False,
    agnostic: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw output -> ``(boxes xyxy (k, 4), scores (k,), classes (k,))``.

    Parameters
    ----------
    output : ndarray
        ``(4 + nc, N)`` (rows: cx, cy, w, h, class scores) or, for an end-to-end
        graph, ``(N, 6)`` (x1, y1, x2, y2, score, class); model-input pixels.

    Notes
    -----
    Single-label, class-aware NMS as ultralytics' ``non_max_suppression`` with
    ``multi_label=False, agnostic=False``: each anchor keeps its best class, boxes
    are offset by ``class * 7680`` so NMS never suppresses across classes
    (``agnostic=True``: one NMS over all classes, ultralytics' ``agnostic_nms``).
    """
    if end2end:
        out = np.asarray(output, dtype=np.float32)
        out = out[out[:, 4] > conf_threshold][:max_detections]
        return out[:, :4].copy(), out[:, 4].copy(), out[:, 5].astype(np.int64)
    pred = np.asarray(output, dtype=np.float32).T  # (N, 4 + nc)
    cls_scores = pred[:, 4:]
    cls = cls_scores.argmax(axis=1)
    scores = cls_scores[np.arange(len(cls)), cls]
    m = scores > conf_threshold
    if not m.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    xywh, scores, cls = pred[m, :4], scores[m], cls[m]
    boxes = np.empty_like(xywh)
    boxes[:, :2] = xywh[:, :2] - xywh[:, 2:] / 2
    boxes[:, 2:] = xywh[:, :2] + xywh[:, 2:] / 2
    # ultralytics caps candidates before NMS at 30000
    if len(scores) > 30000:
        top = np.argsort(-scores)[:30000]
        boxes, scores, cls = boxes[top], scores[top], cls[top]
    offset = 0.0 if agnostic else cls[:, None].astype(np.float32) * _MAX_WH
    keep = nms(boxes + offset, scores, iou_threshold)[:max_detections]
    return boxes[keep], scores[keep], cls[keep].astype(np.int64)


def scale_boxes(boxes: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Model-input ``xyxy`` boxes -> original-frame pixels, clipped to the frame."""
    out = np.asarray(boxes, dtype=np.float32).copy()
    out[:, [0, 2]] = (out[:, [0, 2]] - lb.pad_x) / lb.ratio
    out[:, [1, 3]] = (out[:, [1, 3]] - lb.pad_y) / lb.ratio
    h, w = lb.frame_shape
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
    return out
