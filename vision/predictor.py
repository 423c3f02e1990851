"""The detection sequence: source -> preprocess -> infer -> postprocess -> track -> write.

One fixed order, each stage timed, as ultralytics' ``BasePredictor``. Inference
runs on ONNX Runtime; nothing here imports torch or ultralytics. ``write`` returns
Arrow tables (``DETECTIONS`` and the ``REJECTS`` quarantine); the caller writes
them to Delta.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from jobs.geo.points import h3_cells, points_wkb
from vision.geo import GroundProjector, foot_points
from vision.onnx_model import OnnxYolo
from vision.postprocess import decode, scale_boxes
from vision.preprocess import letterbox, to_tensor
from vision.records import REJECTS, Camera, CameraCalibrationError, VideoSourceError
from vision.schemas import DETECTIONS
from vision.settings import DetectorSettings
from vision.source import VideoSource, expand_sources
from vision.tracker import ByteTracker

__all__ = ["Detector", "DetectionBatch", "FrameDetections", "StageTimer", "STAGES", "reject_row"]

STAGES = ("source", "preprocess", "infer", "postprocess", "track", "write")


class StageTimer:
    """Accumulated wall-clock seconds per stage (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.seconds = {s: 0.0 for s in STAGES}
        self.frames = 0

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t

    def merge(self, other: "StageTimer") -> None:
        for s, v in other.seconds.items():
            self.seconds[s] += v
        self.frames += other.frames

    def ms_per_frame(self) -> dict[str, float]:
        """Milliseconds per processed frame, per stage and ``total``."""
        n = max(self.frames, 1)
        out = {s: 1000.0 * v / n for s, v in self.seconds.items()}
        out["total"] = sum(out.values())
        return out


@dataclass(frozen=True)
class FrameDetections:
    """Detections of one frame in frame pixels."""

    boxes: np.ndarray  # (k, 4) xyxy float32
    scores: np.ndarray  # (k,) float32
    classes: np.ndarray  # (k,) int64


@dataclass
class DetectionBatch:
    """What a run returns: ``detections`` and ``rejects`` tables, stage timings."""

    detections: pa.Table
    rejects: pa.Table
    timer: StageTimer
    frames: int = 0
    sources: list[str] = field(default_factory=list)


def reject_row(run_id: str, source: str, row: int, rule: str, fld: str | None, reason: str, raw: dict) -> dict:
    """A ``REJECTS`` row of a video (``source_row``: the frame, -1 for the whole clip)."""
    return {
        "source": "video",
        "ingest_id": run_id,
        "source_file": source,
        "source_row": row,
        "rule": rule,
        "field": fld,
        "reason": reason,
        "raw": json.dumps(raw, default=str, sort_keys=True),
    }


class Detector:
    """Run an ultralytics YOLO ONNX model over video and return geolocated tracks.

    Parameters
    ----------
    model : str, Path or OnnxYolo
        The ``.onnx`` model (class names come from its metadata).
    settings : DetectorSettings, optional
        Thresholds, sampling and tracker settings.
    intra_op_threads : int, optional
        ONNX Runtime threads.

    Examples
    --------
    >>> det = Detector("model.onnx", DetectorSettings(sample_fps=5))  # doctest: +SKIP
    >>> batch = det.run("clip.mp4", camera=cam, start_time=t0)  # doctest: +SKIP
    >>> batch.detections.num_rows, batch.timer.ms_per_frame()  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | Path | OnnxYolo,
        settings: DetectorSettings | None = None,
        *,
        intra_op_threads: int | None = None,
    ) -> None:
        self.model = model if isinstance(model, OnnxYolo) else OnnxYolo(model, intra_op_threads=intra_op_threads)
        self.settings = settings or DetectorSettings()
        self.names = self.model.names

    # -- the stages on one frame (also used by the benchmark and draw) ---------
    def detect_frame(self, image: np.ndarray, timer: StageTimer | None = None) -> FrameDetections:
        """Preprocess, infer and postprocess one BGR frame."""
        timer = timer or StageTimer()
        s = self.settings
        with timer("preprocess"):
            img, lb = letterbox(image, self.model.imgsz)
            batch = to_tensor([img])
        with timer("infer"):
            out = self.model(batch)[0]
        with timer("postprocess"):
            boxes, scores, cls = decode(
                out,
                conf_threshold=s.conf_threshold,
                iou_threshold=s.iou_threshold,
                max_detections=s.max_detections,
                end2end=self.model.end2end,
                agnostic=s.agnostic_nms,
            )
            boxes = scale_boxes(boxes, lb)
        return FrameDetections(boxes.astype(np.float32), scores.astype(np.float32), cls.astype(np.int64))

    # -- a whole batch ---------------------------------------------------------
    def run(
        self,
        source: str | Path,
        camera: Camera | dict | None = None,
        *,
        camera_id: str | None = None,
        start_time: datetime | None = None,
    ) -> DetectionBatch:
        """Detect, track and geolocate every (sampled) frame of one source.

        ``source`` may be a file, a folder (each file in name order is its own
        clip) or a stream URI. See :meth:`run_batch`.
        """
        return self.run_batch([(source, camera)], camera_ids=[camera_id], start_times=[start_time])

    def run_batch(
        self,
        jobs: Iterable[tuple[str | Path, Camera | dict | None]],
        *,
        camera_ids: list[str | None] | None = None,
        start_times: list[datetime | None] | None = None,
    ) -> DetectionBatch:
        """Run several ``(source, camera)`` pairs; a bad one is quarantined, the rest go on.

        Quarantine rules (``rejects.rule``): ``video_unreadable`` (missing, corrupt
        or empty file, unreachable stream), ``stream_dropped`` (a stream stopped;
        the frames read before are kept), ``camera_uncalibrated`` (fewer than four
        usable control points: detections are kept with null lon/lat/h3).
        """
        jobs = list(jobs)
        camera_ids = camera_ids or [None] * len(jobs)
        start_times = start_times or [None] * len(jobs)
        run_id = uuid.uuid4().hex
        timer = StageTimer()
        columns: dict[str, list] = {f.name: [] for f in DETECTIONS}
        rejects: list[dict] = []
        sources_done: list[str] = []
        for (source, camera), cam_id, t0 in zip(jobs, camera_ids, start_times):
            cam = Camera.from_record(camera) if isinstance(camera, dict) else camera
            cid = cam.camera_id if cam is not None else (cam_id or Path(str(source)).stem)
            projector = None
            if cam is not None:
                try:
                    projector = GroundProjector.from_camera(cam)
                except CameraCalibrationError as exc:
                    rejects.append(reject_row(run_id, str(source), -1, "camera_uncalibrated", "control_points",
                                           str(exc), {"camera_id": cid, "control_points": len(cam.control_points)}))
            try:
                uris = expand_sources(source)
            except VideoSourceError as exc:
                rejects.append(reject_row(run_id, str(source), -1, "video_unreadable", "source", str(exc),
                                       {"camera_id": cid, "source": str(source)}))
                continue
            for uri in uris:
                self._run_one(uri, cid, projector, t0, run_id, timer, columns, rejects)
                sources_done.append(uri)
        with timer("write"):
            det = pa.Table.from_pydict(columns, schema=DETECTIONS)
            rej = pa.Table.from_pylist(rejects, schema=REJECTS)
        return DetectionBatch(det, rej, timer, timer.frames, sources_done)

    def _run_one(self, uri, cid, projector, t0, run_id, timer, columns, rejects) -> None:
        s = self.settings
        src = VideoSource(uri, sample_fps=s.sample_fps, start_time=t0, retries=s.stream_retries,
                          retry_wait_s=s.stream_retry_wait_s)
        tracker = None
        frames = iter(src)
        while True:
            try:
                with timer("source"):
                    frame = next(frames)
            except StopIteration:
                break
            except VideoSourceError as exc:
                rejects.append(reject_row(run_id, uri, -1, "video_unreadable", "source", str(exc),
                                       {"camera_id": cid, "source": uri}))
                return
            if tracker is None and s.track:
                rates = [r for r in (s.sample_fps, src.fps) if r]
                rate = min(rates) if rates else 30.0
                tracker = ByteTracker(
                    high_threshold=s.track_high_threshold, low_threshold=s.track_low_threshold,
                    new_track_threshold=s.new_track_threshold, match_threshold=s.match_threshold,
                    track_buffer=s.track_buffer, frame_rate=rate, fuse_score=s.track_fuse_score,
                )
            fd = self.detect_frame(frame.image, timer)
            timer.frames += 1
            with timer("track"):
                if tracker is not None:
                    pairs = tracker.update(fd.boxes, fd.scores, fd.classes)
                    keep, ids = pairs[:, 0], pairs[:, 1].tolist()
                else:
                    keep, ids = np.arange(len(fd.scores)), [None] * len(fd.scores)
            with timer("write"):
                self._append(columns, cid, uri, frame, fd, keep, ids, projector)
        if src.dropped:
            rejects.append(reject_row(run_id, uri, src.frames_read, "stream_dropped", "source", src.dropped,
                                   {"camera_id": cid, "source": uri, "frames_read": src.frames_read}))

    def _append(self, columns, cid, uri, frame, fd: FrameDetections, keep, ids, projector) -> None:
        n = len(keep)
        if n == 0:
            return
        boxes = fd.boxes[keep]
        if projector is not None:
            lon, lat = projector.to_lonlat(foot_points(boxes))
        else:
            lon = lat = np.full(n, np.nan)
        columns["camera_id"] += [cid] * n
        columns["source"] += [uri] * n
        columns["frame_time"] += [frame.time] * n
        columns["frame_index"] += [frame.index] * n
        columns["track_id"] += list(ids)
        cls = fd.classes[keep]
        columns["class_id"] += cls.tolist()
        columns["class_name"] += [self.names.get(int(c), str(int(c))) for c in cls]
        columns["confidence"] += fd.scores[keep].tolist()
        for j, name in enumerate(("x1", "y1", "x2", "y2")):
            columns[name] += boxes[:, j].tolist()
        columns["lon"] += [None if not np.isfinite(x) else float(x) for x in lon]
        columns["lat"] += [None if not np.isfinite(y) else float(y) for y in lat]
        # a point and its cell need both coordinates finite (the vectorised helpers take NaN as missing)
        located = np.isfinite(lon) & np.isfinite(lat)
        glon, glat = np.where(located, lon, np.nan), np.where(located, lat, np.nan)
        columns["geometry"] += points_wkb(glon, glat).to_pylist()
        columns["h3"] += h3_cells(glon, glat).to_pylist()
