"""``crimefusion vision detect`` on a tiny clip with a YOLO-shaped ONNX graph."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
from typer.testing import CliRunner

from orchestration.cli.vision import app
from vision.synthetic import synthetic_camera


def _onnx(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).normal(0, 0.05, (6, 3, 8, 8)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([1, 6, 64], np.int64), "shape")
    scale = numpy_helper.from_array(np.array([64] * 4 + [1, 1], np.float32).reshape(1, 6, 1), "scale")
    g = helper.make_graph(
        [helper.make_node("Conv", ["images", "w"], ["c"], strides=[8, 8]),
         helper.make_node("Reshape", ["c", "shape"], ["r"]),
         helper.make_node("Sigmoid", ["r"], ["s"]),
         helper.make_node("Mul", ["s", "scale"], ["output0"])],
        "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 6, 64])], [w, shape, scale])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    for k, v in {"task": "detect", "names": "{0: 'person', 1: 'vehicle'}"}.items():
        m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.save(m, str(path))
    return path


def test_detect_writes_tables_and_quarantines(tmp_path):
    import cv2

    clip = tmp_path / "c.avi"
    wr = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 360))
    for _ in range(4):
        wr.write(np.random.default_rng(1).integers(0, 255, (360, 640, 3), dtype=np.uint8))
    wr.release()
    cam = tmp_path / "cam.json"
    cam.write_text(json.dumps(synthetic_camera("cam-cli")))
    model = _onnx(tmp_path / "m.onnx")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["detect", str(clip), "--model", str(model), "--camera", str(cam),
                                   "--conf", "0.5", "--start-time", "2024-05-01T22:00:00", "--out", str(out),
                                   "--draw", str(tmp_path / "d.png")])
    assert res.exit_code == 0, res.output
    det = pq.read_table(out / "detections.parquet")
    assert det.num_rows > 0 and set(det.column("camera_id").to_pylist()) == {"cam-cli"}
    assert pq.read_table(out / "rejects.parquet").num_rows == 0
    assert (tmp_path / "d.png").is_file()
    assert "infer" in res.output


def test_detect_with_a_model_that_is_not_yolo_fails_clearly(tmp_path):
    bad = tmp_path / "m.onnx"
    bad.write_bytes(b"nope")
    res = CliRunner().invoke(app, ["detect", str(tmp_path), "--model", str(bad)])
    assert res.exit_code == 2
    assert "cannot be loaded by ONNX Runtime" in res.output
