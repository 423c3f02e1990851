"""Draw detections on a frame (for reports, the README and debugging)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["draw_detections"]

_PALETTE = [(56, 56, 255), (255, 157, 151), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72)]


def draw_detections(
    image: np.ndarray,
    detections: pa.Table,
    *,
    frame_index: int | None = None,
    thickness: int = 2,
) -> np.ndarray:
    """Return a copy of a BGR ``image`` with boxes, class, confidence and track id drawn.

    Parameters
    ----------
    image : ndarray
        BGR ``uint8`` frame.
    detections : Table
        Rows with ``class_name, confidence, x1, y1, x2, y2`` and optionally
        ``track_id`` and ``frame_index`` (``DETECTIONS``).
    frame_index : int, optional
        Draw only the rows of this frame.
    """
    import cv2

    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be a BGR (h, w, 3) array, got shape {image.shape}")
    rows = detections.to_pylist()
    if frame_index is not None:
        rows = [r for r in rows if r.get("frame_index") == frame_index]
    out = image.copy()
    classes = sorted({r["class_name"] for r in rows})
    scale = max(0.35, min(out.shape[:2]) / 900)
    for r in rows:
        color = _PALETTE[classes.index(r["class_name"]) % len(_PALETTE)]
        p1 = (int(round(r["x1"])), int(round(r["y1"])))
        p2 = (int(round(r["x2"])), int(round(r["y2"])))
        cv2.rectangle(out, p1, p2, color, thickness, cv2.LINE_AA)
        tid = r.get("track_id")
        label = f"{r['class_name']} {r['confidence']:.2f}" + (f" #{tid}" if tid is not None else "")
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = p1[1] - th - base - 2 if p1[1] - th - base - 2 >= 0 else p1[1]
        left = max(0, min(p1[0], out.shape[1] - tw - 2))  # keep the label inside the frame
        cv2.rectangle(out, (left, top), (left + tw + 2, top + th + base + 2), color, -1)
        cv2.putText(out, label, (left + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
        foot = (int(round((r["x1"] + r["x2"]) / 2)), p2[1])
        cv2.circle(out, foot, 3, color, -1, cv2.LINE_AA)
    return out
