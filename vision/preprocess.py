"""Preprocess stage: letterbox a BGR frame to the model's input size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Letterbox", "letterbox", "to_tensor"]


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the model input: ``input = frame * ratio + (pad_x, pad_y)``."""

    ratio: float
    pad_x: float
    pad_y: float
    frame_shape: tuple[int, int]  # (h, w) of the original frame


def letterbox(
    image: np.ndarray, size: tuple[int, int], *, color: int = 114
) -> tuple[np.ndarray, Letterbox]:
    """Resize ``image`` to fit ``size`` (h, w) keeping its aspect ratio; pad the rest.

    Notes
    -----
    Same arithmetic as ultralytics' ``LetterBox(auto=False, center=True)``
    (``ultralytics/data/augment.py``), so the ONNX path sees the pixels the
    PyTorch predictor sees.
    """
    import cv2

    h0, w0 = image.shape[:2]
    new_h, new_w = int(size[0]), int(size[1])
    r = min(new_h / h0, new_w / w0)
    unpad_w, unpad_h = int(round(w0 * r)), int(round(h0 * r))
    dw, dh = (new_w - unpad_w) / 2, (new_h - unpad_h) / 2
    if (w0, h0) != (unpad_w, unpad_h):
        image = cv2.resize(image, (unpad_w, unpad_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    out = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(color, color, color))
    return out, Letterbox(r, float(left), float(top), (h0, w0))


def to_tensor(images: list[np.ndarray]) -> np.ndarray:
    """Letterboxed BGR ``uint8`` images -> ``float32`` NCHW RGB in [0, 1]."""
    batch = np.stack(images)[..., ::-1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32) / np.float32(255.0)
