"""Detection and tracking accuracy against known boxes (the synthetic ground truth).

Kernels: Arrow tables in, a dict of figures out; no I/O.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from vision.postprocess import box_iou

__all__ = ["detection_metrics", "tracking_metrics", "average_precision"]


def _boxes(t) -> np.ndarray:
    return np.column_stack([np.asarray(t[c], dtype=np.float64) for c in ("x1", "y1", "x2", "y2")]).reshape(-1, 4)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (all-point interpolation, PASCAL VOC 2010+)."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.flip(np.maximum.accumulate(np.flip(p)))
    i = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[i + 1] - r[i]) * p[i + 1]))


def detection_metrics(
    predictions: pa.Table, truth: pa.Table, *, iou_threshold: float = 0.5
) -> dict[str, float]:
    """Precision, recall and mAP at ``iou_threshold`` of detections against ground truth.

    Parameters
    ----------
    predictions : Table
        ``frame_index, class_name, confidence, x1, y1, x2, y2`` (``DETECTIONS``).
    truth : Table
        ``frame_index, class_name, x1, y1, x2, y2``.

    Returns
    -------
    dict
        ``precision``, ``recall`` (at the predictions as given, i.e. after the
        confidence threshold), ``mAP50`` (mean over ground-truth classes of AP),
        ``ap_<class>``, ``tp``, ``fp``, ``fn``.

    Notes
    -----
    Per frame and class, predictions are matched greedily by descending
    confidence to the unmatched true box of highest IoU >= ``iou_threshold``
    (PASCAL VOC; Everingham et al., IJCV 2010). AP is the area under the
    precision envelope (all-point interpolation).
    """
    pred = predictions.to_pandas()
    gt = truth.to_pandas()
    classes = sorted(set(gt["class_name"]))
    out: dict[str, float] = {}
    tp_all = fp_all = 0
    aps = []
    for cls in sorted(set(classes) | set(pred["class_name"])):
        p = pred[pred["class_name"] == cls].sort_values("confidence", ascending=False, kind="stable")
        g = gt[gt["class_name"] == cls]
        g_by_frame = {f: _boxes(d) for f, d in g.groupby("frame_index")}
        used = {f: np.zeros(len(b), bool) for f, b in g_by_frame.items()}
        tp = np.zeros(len(p), bool)
        for k, (f, box) in enumerate(zip(p["frame_index"].to_numpy(), _boxes(p))):
            gb = g_by_frame.get(f)
            if gb is None or len(gb) == 0:
                continue
            iou = box_iou(box[None], gb)[0]
            iou[used[f]] = -1
            j = int(np.argmax(iou))
            if iou[j] >= iou_threshold:
                tp[k] = True
                used[f][j] = True
        n_gt = len(g)
        tp_all += int(tp.sum())
        fp_all += int((~tp).sum())
        if cls in classes:
            ctp = np.cumsum(tp)
            recall = ctp / max(n_gt, 1)
            precision = ctp / np.arange(1, len(tp) + 1)
            ap = average_precision(recall, precision) if len(tp) else 0.0
            out[f"ap_{cls}"] = ap
            aps.append(ap)
    n_gt_all = len(gt)
    out["tp"] = float(tp_all)
    out["fp"] = float(fp_all)
    out["fn"] = float(n_gt_all - tp_all)
    out["precision"] = tp_all / max(tp_all + fp_all, 1)
    out["recall"] = tp_all / max(n_gt_all, 1)
    out["mAP50"] = float(np.mean(aps)) if aps else 0.0
    return out


def tracking_metrics(
    predictions: pa.Table, truth: pa.Table, *, iou_threshold: float = 0.5
) -> dict[str, float]:
    """CLEAR MOT figures: ID switches, MOTA, and track fragmentation.

    Parameters
    ----------
    predictions : Table
        ``frame_index, track_id, x1, y1, x2, y2``.
    truth : Table
        ``frame_index, object_id, x1, y1, x2, y2``.

    Returns
    -------
    dict
        ``id_switches`` (a true object matched to a different track than the last
        time it was matched), ``mota`` = 1 - (FN + FP + IDSW) / GT, ``matches``,
        ``objects``, ``tracks``.

    Notes
    -----
    Bernardin & Stiefelhagen, "Evaluating Multiple Object Tracking Performance:
    the CLEAR MOT Metrics", EURASIP JIVP 2008. Matching per frame is an optimal
    assignment on IoU (SciPy ``linear_sum_assignment``), class-agnostic.
    """
    from scipy.optimize import linear_sum_assignment

    pred = predictions.to_pandas()
    pred = pred[pred["track_id"].notna()]
    gt = truth.to_pandas()
    last: dict[int, int] = {}
    idsw = matches = fp = fn = 0
    frames = sorted(set(gt["frame_index"]) | set(pred["frame_index"]))
    pg = dict(tuple(pred.groupby("frame_index")))
    gg = dict(tuple(gt.groupby("frame_index")))
    for f in frames:
        p = pg.get(f)
        g = gg.get(f)
        np_, ng = (0 if p is None else len(p)), (0 if g is None else len(g))
        if np_ == 0 or ng == 0:
            fp += np_
            fn += ng
            continue
        iou = box_iou(_boxes(g), _boxes(p))
        rows, cols = linear_sum_assignment(-iou)
        ok = iou[rows, cols] >= iou_threshold
        rows, cols = rows[ok], cols[ok]
        matches += len(rows)
        fp += np_ - len(rows)
        fn += ng - len(rows)
        oids = g["object_id"].to_numpy()
        tids = p["track_id"].to_numpy()
        for r, c in zip(rows, cols):
            o, t = int(oids[r]), int(tids[c])
            if o in last and last[o] != t:
                idsw += 1
            last[o] = t
    n_gt = len(gt)
    return {
        "id_switches": float(idsw),
        "mota": 1.0 - (fn + fp + idsw) / max(n_gt, 1),
        "matches": float(matches),
        "objects": float(gt["object_id"].nunique()),
        "tracks": float(pred["track_id"].nunique()),
    }
