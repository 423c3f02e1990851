"""ByteTrack: identities persist, a short miss is bridged, crossing objects keep ids."""

from __future__ import annotations

import numpy as np

from vision.tracker import ByteTracker


def _run(frames):
    tr = ByteTracker(frame_rate=10, track_buffer=30)
    out = []
    for dets in frames:
        boxes = np.array([d[:4] for d in dets], float).reshape(-1, 4)
        scores = np.array([d[4] for d in dets], float)
        pairs = tr.update(boxes, scores, np.zeros(len(dets), int))
        out.append({int(d): int(t) for d, t in pairs})
    return out


def test_two_objects_keep_their_ids():
    frames = [[(10 + 5 * f, 10, 40 + 5 * f, 80, 0.9), (300 - 5 * f, 100, 340 - 5 * f, 160, 0.8)] for f in range(20)]
    out = _run(frames)
    # first frame confirms tracks (ByteTrack activates at frame 1)
    assert out[0] == {0: 1, 1: 2}
    assert all(o == {0: 1, 1: 2} for o in out)


def test_missed_frames_are_bridged_by_the_lost_pool():
    frames = [[(10 + 4 * f, 10, 40 + 4 * f, 80, 0.9)] for f in range(20)]
    for f in (8, 9, 10):
        frames[f] = []
    out = _run(frames)
    ids = {t for o in out for t in o.values()}
    assert ids == {1}
    assert out[11] == {0: 1}


def test_low_score_detection_keeps_a_track_alive_but_does_not_start_one():
    frames = [[(10, 10, 40, 80, 0.9)], [(11, 10, 41, 80, 0.15)], [(12, 10, 42, 80, 0.9)], [(200, 10, 240, 80, 0.15)]]
    out = _run(frames)
    assert out[1] == {0: 1}  # second association stage took the low-score box
    assert out[2] == {0: 1}
    assert out[3] == {}  # a lone low-score box never starts a track


def test_new_object_after_first_frame_needs_two_frames_to_confirm():
    frames = [[(10, 10, 40, 80, 0.9)], [(10, 10, 40, 80, 0.9), (200, 10, 240, 80, 0.9)],
              [(10, 10, 40, 80, 0.9), (201, 10, 241, 80, 0.9)]]
    out = _run(frames)
    assert out[1] == {0: 1}
    assert out[2] == {0: 1, 1: 2}
