"""Bad input: each case gives a clear error or a quarantined record, and the batch goes on."""

from __future__ import annotations

import http.server
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from vision.onnx_model import OnnxYolo
from vision.predictor import Detector
from vision.records import ModelFormatError, VideoSourceError
from vision.settings import DetectorSettings
from vision.source import VideoSource, expand_sources
from vision.synthetic import synthetic_camera


def _write_clip(path: Path, n: int, size=(64, 48)) -> Path:
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    rng = np.random.default_rng(0)
    for _ in range(n):
        w.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    w.release()
    return path


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- source -------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: d / "missing.mp4", "does not exist"),
        (lambda d: _file(d / "zero.mp4", b""), "empty"),
        (lambda d: _file(d / "corrupt.mp4", os.urandom(4096)), "cannot be opened"),
        (lambda d: _write_clip(d / "noframes.avi", 0), "no frames"),
        (lambda d: _file(d / "bad.png", b"not a png"), "cannot be decoded"),
    ],
)
def test_unreadable_video_raises_a_clear_error(tmp_path, make, match):
    with pytest.raises(VideoSourceError, match=match):
        list(VideoSource(make(tmp_path)))


def test_empty_folder_is_refused(tmp_path):
    with pytest.raises(VideoSourceError, match="holds no video"):
        expand_sources(tmp_path)


def test_sampling_keeps_the_requested_rate_and_stamps_utc_times(tmp_path):
    clip = _write_clip(tmp_path / "c.avi", 20)  # 2 s at 10 fps
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    frames = list(VideoSource(clip, sample_fps=2.5, start_time=t0))
    assert [f.index for f in frames] == [0, 4, 8, 12, 16]
    assert frames[1].time == datetime(2024, 1, 1, 0, 0, 0, 400000, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="timezone"):
        VideoSource(clip, start_time=datetime(2024, 1, 1))


class _OnceHandler(http.server.BaseHTTPRequestHandler):
    """Serves the first half of a clip once, then answers 404: a stream that drops."""

    payload = b""
    served = 0

    def do_GET(self):  # noqa: N802 - http.server API
        if type(self).served:
            self.send_error(404)
            return
        type(self).served += 1
        self.send_response(200)
        self.send_header("Content-Type", "video/x-msvideo")
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args):
        pass


def test_stream_that_drops_is_quarantined_and_frames_before_are_kept(tmp_path, yolo_shaped_onnx):
    clip = _write_clip(tmp_path / "s.avi", 40)
    data = clip.read_bytes()
    _OnceHandler.payload = data[: len(data) // 2]
    _OnceHandler.served = 0
    server = http.server.HTTPServer(("127.0.0.1", 0), _OnceHandler)
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cam.avi"
        det = Detector(yolo_shaped_onnx, DetectorSettings(stream_retries=2, stream_retry_wait_s=0.0,
                                                          conf_threshold=0.5))
        out = det.run(url, camera_id="cam-stream")
    finally:
        server.shutdown()
        server.server_close()
    rules = out.rejects.column("rule").to_pylist()
    assert rules == ["stream_dropped"]
    assert "2 reconnect attempt" in out.rejects.column("reason")[0].as_py()
    assert 0 < out.frames < 40


# --- model --------------------------------------------------------------------
def test_model_file_that_is_not_onnx(tmp_path):
    p = tmp_path / "weights.pt"
    p.write_bytes(b"\x80\x02 not onnx")
    with pytest.raises(ModelFormatError, match="vision export"):
        OnnxYolo(p)


def test_model_file_that_is_garbage_onnx(tmp_path):
    p = tmp_path / "model.onnx"
    p.write_bytes(b"garbage")
    with pytest.raises(ModelFormatError, match="cannot be loaded"):
        OnnxYolo(p)


def test_onnx_without_ultralytics_metadata(tmp_path, make_onnx):
    with pytest.raises(ModelFormatError, match="no 'names' metadata"):
        OnnxYolo(make_onnx(tmp_path / "m.onnx", metadata=False))


def test_onnx_whose_output_does_not_fit_its_classes(tmp_path, make_onnx):
    with pytest.raises(ModelFormatError, match="does not fit a YOLO detector"):
        OnnxYolo(make_onnx(tmp_path / "m.onnx", nc=2, out_channels=9))


def test_class_names_come_from_metadata(yolo_shaped_onnx):
    m = OnnxYolo(yolo_shaped_onnx)
    assert m.names == {0: "person", 1: "vehicle"} and m.imgsz == (64, 64)


# --- a batch with bad members goes on -------------------------------------------
def test_batch_quarantines_bad_members_and_processes_the_rest(tmp_path, yolo_shaped_onnx):
    good = _write_clip(tmp_path / "good.avi", 5, size=(640, 360))
    uncalibrated = {"camera_id": "cam-nocp", "lon": -87.6, "lat": 41.8, "control_points": []}
    det = Detector(yolo_shaped_onnx, DetectorSettings(conf_threshold=0.5))
    out = det.run_batch([
        (tmp_path / "missing.mp4", synthetic_camera("cam-a")),
        (good, synthetic_camera("cam-b")),
        (good, uncalibrated),
    ])
    rejects = {(r["rule"], Path(r["source_file"]).name) for r in out.rejects.to_pylist()}
    assert rejects == {("video_unreadable", "missing.mp4"), ("camera_uncalibrated", "good.avi")}
    cams = set(out.detections.column("camera_id").to_pylist())
    assert cams == {"cam-b", "cam-nocp"}
    d = out.detections.to_pandas()
    assert d.loc[d.camera_id == "cam-b", "lat"].notna().all()
    assert d.loc[d.camera_id == "cam-nocp", ["lon", "lat", "h3"]].isna().all().all()
    assert out.frames == 10
