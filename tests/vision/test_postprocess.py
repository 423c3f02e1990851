"""Letterbox, YOLO output decoding and class-aware NMS."""

from __future__ import annotations

import numpy as np
import pytest

from vision.postprocess import box_iou, decode, nms, scale_boxes
from vision.preprocess import letterbox, to_tensor


def _raw(boxes_xywh, cls_scores):
    """Build a (4 + nc, N) raw YOLO output from rows."""
    return np.concatenate([np.asarray(boxes_xywh, np.float32), np.asarray(cls_scores, np.float32)], axis=1).T


@pytest.mark.parametrize(
    "boxes, scores, nc_scores, expect_n, why",
    [
        # two near-identical boxes of one class -> NMS keeps one
        ([[50, 50, 20, 40], [51, 50, 20, 40]], None, [[0.9, 0.0], [0.8, 0.0]], 1, "same class suppressed"),
        # the same boxes but different classes -> both kept (class-aware)
        ([[50, 50, 20, 40], [51, 50, 20, 40]], None, [[0.9, 0.0], [0.0, 0.8]], 2, "other class kept"),
        # below the confidence threshold -> dropped
        ([[50, 50, 20, 40]], None, [[0.1, 0.2]], 0, "low score dropped"),
        # disjoint boxes of one class -> both kept
        ([[20, 20, 10, 10], [80, 80, 10, 10]], None, [[0.5, 0.0], [0.6, 0.0]], 2, "disjoint kept"),
    ],
)
def test_decode_table(boxes, scores, nc_scores, expect_n, why):
    b, s, c = decode(_raw(boxes, nc_scores), conf_threshold=0.25, iou_threshold=0.7)
    assert len(b) == expect_n, why
    if expect_n:
        assert np.all(np.diff(s) <= 0) or expect_n == 2


def test_agnostic_nms_suppresses_across_classes():
    raw = _raw([[50, 50, 20, 40], [51, 50, 20, 40]], [[0.9, 0.0], [0.0, 0.8]])
    assert len(decode(raw, agnostic=True)[0]) == 1
    assert len(decode(raw, agnostic=False)[0]) == 2


def test_decode_converts_centre_size_to_corners_and_picks_best_class():
    b, s, c = decode(_raw([[50, 60, 20, 40]], [[0.3, 0.9]]))
    np.testing.assert_allclose(b, [[40, 40, 60, 80]])
    assert c.tolist() == [1] and s[0] == pytest.approx(0.9)


def test_decode_end_to_end_output():
    out = np.array([[1, 2, 3, 4, 0.9, 1], [1, 2, 3, 4, 0.1, 0]], np.float32)
    b, s, c = decode(out, end2end=True, conf_threshold=0.25)
    assert c.tolist() == [1] and b.shape == (1, 4)


def test_nms_matches_brute_force():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (40, 2))
    boxes = np.column_stack([xy, xy + rng.uniform(5, 30, (40, 2))])
    scores = rng.uniform(size=40)
    keep = nms(boxes, scores, 0.5)
    iou = box_iou(boxes[keep], boxes[keep])
    np.fill_diagonal(iou, 0)
    assert iou.max() <= 0.5
    # every dropped box overlaps a kept box with a higher score
    for i in set(range(40)) - set(keep.tolist()):
        ov = box_iou(boxes[i][None], boxes[keep])[0]
        assert np.any((ov > 0.5) & (scores[keep] >= scores[i]))


def test_letterbox_round_trip_of_boxes():
    img = np.zeros((272, 640, 3), np.uint8)
    out, lb = letterbox(img, (320, 320))
    assert out.shape == (320, 320, 3)
    assert lb.ratio == pytest.approx(0.5) and lb.pad_x == 0 and lb.pad_y == 92
    frame_box = np.array([[100, 50, 300, 250]], np.float32)
    model_box = frame_box * lb.ratio + np.array([lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y])
    np.testing.assert_allclose(scale_boxes(model_box, lb), frame_box, atol=1e-4)
    assert out[0, 0].tolist() == [114, 114, 114]


def test_to_tensor_is_rgb_nchw_unit_range():
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 255  # blue in BGR
    t = to_tensor([img])
    assert t.shape == (1, 3, 4, 4) and t.dtype == np.float32
    assert t[0, 2].max() == 1.0 and t[0, 0].max() == 0.0
