"""Track stage: ByteTrack multi-object tracking (numpy; SciPy for the assignment).

Notes
-----
Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every Detection
Box", ECCV 2022. Follows the reference implementation and ultralytics'
``trackers/byte_tracker.py``: a constant-velocity Kalman filter on
(cx, cy, aspect, h); high-score detections matched first (IoU fused with score),
then low-score detections to the remaining tracked objects, then unconfirmed
tracks; lost tracks are kept ``track_buffer`` frames for re-identification.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision.postprocess import box_iou

__all__ = ["ByteTracker", "KalmanFilterXYAH"]


class KalmanFilterXYAH:
    """Constant-velocity Kalman filter on box centre, aspect ratio and height."""

    _std_pos = 1.0 / 20
    _std_vel = 1.0 / 160

    def __init__(self) -> None:
        self.F = np.eye(8)
        self.F[:4, 4:] = np.eye(4)
        self.H = np.eye(4, 8)

    def initiate(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.r_[m, np.zeros(4)]
        h = m[3]
        std = [2 * self._std_pos * h, 2 * self._std_pos * h, 1e-2, 2 * self._std_pos * h,
               10 * self._std_vel * h, 10 * self._std_vel * h, 1e-5, 10 * self._std_vel * h]
        return mean, np.diag(np.square(std))

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = mean[3]
        std = [self._std_pos * h, self._std_pos * h, 1e-2, self._std_pos * h,
               self._std_vel * h, self._std_vel * h, 1e-5, self._std_vel * h]
        mean = self.F @ mean
        cov = self.F @ cov @ self.F.T + np.diag(np.square(std))
        return mean, cov

    def update(self, mean: np.ndarray, cov: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = mean[3]
        r = np.diag(np.square([self._std_pos * h, self._std_pos * h, 1e-1, self._std_pos * h]))
        s = self.H @ cov @ self.H.T + r
        k = np.linalg.solve(s, (cov @ self.H.T).T).T
        mean = mean + k @ (m - self.H @ mean)
        cov = cov - k @ s @ k.T
        return mean, cov


def _xyxy_to_xyah(b: np.ndarray) -> np.ndarray:
    w, h = b[2] - b[0], b[3] - b[1]
    return np.array([b[0] + w / 2, b[1] + h / 2, w / max(h, 1e-6), h], dtype=np.float64)


def _xyah_to_xyxy(m: np.ndarray) -> np.ndarray:
    w = m[2] * m[3]
    return np.array([m[0] - w / 2, m[1] - m[3] / 2, m[0] + w / 2, m[1] + m[3] / 2])


TRACKED, LOST, REMOVED = 0, 1, 2


@dataclass
class _Track:
    mean: np.ndarray
    cov: np.ndarray
    score: float
    cls: int
    det_index: int
    track_id: int = 0
    state: int = TRACKED
    activated: bool = False
    frame_id: int = 0
    start_frame: int = 0

    @property
    def xyxy(self) -> np.ndarray:
        return _xyah_to_xyxy(self.mean[:4])


def _assign(cost: np.ndarray, thresh: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    if cost.size == 0:
        return [], list(range(cost.shape[0])), list(range(cost.shape[1]))
    from scipy.optimize import linear_sum_assignment

    c = np.where(cost > thresh, thresh + 1e4, cost)
    rows, cols = linear_sum_assignment(c)
    matches = [(int(r), int(k)) for r, k in zip(rows, cols) if cost[r, k] <= thresh]
    mr = {r for r, _ in matches}
    mc = {k for _, k in matches}
    return matches, [r for r in range(cost.shape[0]) if r not in mr], [k for k in range(cost.shape[1]) if k not in mc]


class ByteTracker:
    """ByteTrack over per-frame detections.

    Parameters
    ----------
    high_threshold, low_threshold, new_track_threshold, match_threshold, track_buffer :
        As ultralytics' ``bytetrack.yaml`` (``track_high_thresh`` 0.25,
        ``track_low_thresh`` 0.1, ``new_track_thresh`` 0.25, ``match_thresh`` 0.8,
        ``track_buffer`` 30).
    frame_rate : float
        Frames per second of the (sampled) input; lost tracks live
        ``track_buffer * frame_rate / 30`` frames.
    fuse_score : bool
        Weigh IoU by detection score in the first association (ultralytics default).
    """

    def __init__(
        self,
        *,
        high_threshold: float = 0.25,
        low_threshold: float = 0.1,
        new_track_threshold: float = 0.25,
        match_threshold: float = 0.8,
        track_buffer: int = 30,
        frame_rate: float = 30.0,
        fuse_score: bool = True,
    ) -> None:
        self.high = high_threshold
        self.low = low_threshold
        self.new = new_track_threshold
        self.match = match_threshold
        self.max_lost = max(1, int(round(frame_rate / 30.0 * track_buffer)))
        self.fuse = fuse_score
        self.kf = KalmanFilterXYAH()
        import scipy.optimize  # noqa: F401 - import once here, not inside the first timed update
        self.reset()

    def reset(self) -> None:
        """Forget every track (call between unrelated videos)."""
        self.tracked: list[_Track] = []
        self.lost: list[_Track] = []
        self.frame_id = 0
        self._next_id = 0

    def _cost(self, tracks: list[_Track], boxes: np.ndarray, scores: np.ndarray, fuse: bool) -> np.ndarray:
        if not tracks or len(boxes) == 0:
            return np.zeros((len(tracks), len(boxes)))
        iou = box_iou(np.array([t.xyxy for t in tracks]), boxes)
        if fuse:
            iou = iou * scores[None, :]
        return 1.0 - iou

    def update(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Feed one frame's detections; return ``(k, 2)`` rows ``(detection index, track id)``.

        Only confirmed tracks matched in this frame are returned, each with the
        index of the detection it took.
        """
        self.frame_id += 1
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        classes = np.asarray(classes).reshape(-1)
        idx_all = np.arange(len(scores))
        hi = idx_all[scores >= self.high]
        lo = idx_all[(scores > self.low) & (scores < self.high)]

        unconfirmed = [t for t in self.tracked if not t.activated]
        confirmed = [t for t in self.tracked if t.activated]
        pool = confirmed + self.lost
        for t in pool:
            if t.state != TRACKED:
                t.mean[7] = 0.0  # ultralytics: a lost track's height velocity is frozen
            t.mean, t.cov = self.kf.predict(t.mean, t.cov)

        activated: list[_Track] = []
        refound: list[_Track] = []
        lost_now: list[_Track] = []
        removed: list[_Track] = []

        def take(t: _Track, d: int) -> None:
            t.mean, t.cov = self.kf.update(t.mean, t.cov, _xyxy_to_xyah(boxes[d]))
            t.score, t.cls, t.det_index, t.frame_id = float(scores[d]), int(classes[d]), int(d), self.frame_id
            if t.state == TRACKED:
                t.activated = True
                activated.append(t)
            else:
                t.state, t.activated = TRACKED, True
                refound.append(t)

        # 1. high-score detections vs tracked + lost
        matches, u_track, u_det = _assign(self._cost(pool, boxes[hi], scores[hi], self.fuse), self.match)
        for r, k in matches:
            take(pool[r], int(hi[k]))
        hi_left = hi[u_det]
        # 2. low-score detections vs still-unmatched tracked objects
        r_tracked = [pool[i] for i in u_track if pool[i].state == TRACKED]
        matches, u_track2, _ = _assign(self._cost(r_tracked, boxes[lo], scores[lo], False), 0.5)
        for r, k in matches:
            take(r_tracked[r], int(lo[k]))
        for i in u_track2:
            t = r_tracked[i]
            t.state = LOST
            lost_now.append(t)
        # 3. unconfirmed tracks vs remaining high-score detections
        matches, u_unc, u_det = _assign(self._cost(unconfirmed, boxes[hi_left], scores[hi_left], self.fuse), 0.7)
        for r, k in matches:
            take(unconfirmed[r], int(hi_left[k]))
        for i in u_unc:
            unconfirmed[i].state = REMOVED
            removed.append(unconfirmed[i])
        # 4. new tracks
        for k in u_det:
            d = int(hi_left[k])
            if scores[d] < self.new:
                continue
            mean, cov = self.kf.initiate(_xyxy_to_xyah(boxes[d]))
            self._next_id += 1
            t = _Track(mean, cov, float(scores[d]), int(classes[d]), d, self._next_id, TRACKED,
                       activated=self.frame_id == 1, frame_id=self.frame_id, start_frame=self.frame_id)
            activated.append(t)
        # 5. age out lost tracks
        for t in self.lost:
            if t.state == LOST and self.frame_id - t.frame_id > self.max_lost:
                t.state = REMOVED
        self.tracked = [t for t in self.tracked if t.state == TRACKED]
        ids = {id(t) for t in self.tracked}
        self.tracked += [t for t in activated + refound if id(t) not in ids]
        tracked_ids = {id(t) for t in self.tracked}
        self.lost = [t for t in self.lost + lost_now if t.state == LOST and id(t) not in tracked_ids]
        out = [(t.det_index, t.track_id) for t in self.tracked if t.activated and t.frame_id == self.frame_id]
        return np.array(out, dtype=np.int64).reshape(-1, 2)
