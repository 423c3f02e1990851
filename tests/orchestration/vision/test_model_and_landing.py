"""The bundled demo model reproduces its README figures; model settings resolve; clip times are read."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from orchestration.resources.tracking import MlflowTracking
from orchestration.vision.landing import camera_of, clip_start_time, new_video_files, video_files
from orchestration.vision.model import BUNDLED_MODEL, MODEL_ENV, REGISTERED_MODEL, resolve_model

UTC = dt.timezone.utc


# -- the bundled model -----------------------------------------------------------------

def test_bundled_model_is_small_and_names_its_classes():
    from vision.onnx_model import OnnxYolo

    assert BUNDLED_MODEL.stat().st_size < 5_000_000
    model = OnnxYolo(BUNDLED_MODEL)
    assert model.names == {0: "person", 1: "vehicle"}
    assert tuple(model.imgsz) == (256, 256)


def test_bundled_model_reproduces_its_heldout_figures(tmp_path):
    """data/vision/demo-yolo.json (and README.md) figures, recomputed on the held-out clip (seed 1)."""
    from vision.metrics import detection_metrics, tracking_metrics
    from vision.predictor import Detector
    from vision.settings import DetectorSettings
    from vision.synthetic import render_clip

    recorded = json.loads(BUNDLED_MODEL.with_suffix(".json").read_text())
    clip = render_clip(tmp_path / "heldout.avi", n_frames=60, seed=1)
    batch = Detector(BUNDLED_MODEL, DetectorSettings(track_fuse_score=False)).run(
        clip.path, camera=clip.camera, start_time=clip.start_time)
    got = detection_metrics(batch.detections, clip.truth)
    for k in ("precision", "recall", "mAP50"):
        assert got[k] == pytest.approx(recorded["heldout_detection"][k], abs=0.02), k
    assert got["precision"] >= 0.7 and got["recall"] >= 0.6
    assert tracking_metrics(batch.detections, clip.truth)["id_switches"] <= 3


# -- which model runs ---------------------------------------------------------------------

def _tracking(tmp_path) -> MlflowTracking:
    return MlflowTracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}",
                          artifact_root=str(tmp_path / "mlflow" / "artifacts"))


@pytest.mark.parametrize("setting, env, expected", [
    (None, {}, "bundled"),
    ("auto", {}, "bundled"),
    (None, {MODEL_ENV: "auto"}, "bundled"),
    (str(BUNDLED_MODEL), {}, "path"),
    (None, {MODEL_ENV: str(BUNDLED_MODEL)}, "path"),
])
def test_model_setting_resolves(tmp_path, setting, env, expected):
    tracking = _tracking(tmp_path)
    got = resolve_model(setting, tracking=tracking, cache_dir=tmp_path / "cache", env=env)
    assert got.origin == expected and got.path.resolve() == BUNDLED_MODEL.resolve()
    assert not (tmp_path / "mlflow" / "mlflow.db").exists()  # looking for a champion never creates a store


@pytest.mark.parametrize("setting, message", [
    ("/nowhere/model.onnx", "does not exist"),
    ("models:/crimefusion-yolo@champion", "MLflow store"),
])
def test_bad_model_settings_say_what_to_do(setting, message):
    with pytest.raises(ValueError, match=message):
        resolve_model(setting, tracking=None, cache_dir=None, env={})


def test_registered_champion_replaces_the_bundled_model(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from vision.onnx_model import OnnxYolo
    from vision.train import register_model

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking = _tracking(tmp_path)
    version = register_model(BUNDLED_MODEL, name=REGISTERED_MODEL, metrics={"mAP50": 0.8}, state=tmp_path)
    card = (tmp_path / "reports" / "vision" / f"model_card_{REGISTERED_MODEL}_v{version}.md").read_text()
    assert "- **classes:** person, vehicle" in card and "| validation images | mAP at IoU 0.5 | 0.8 |" in card
    assert "## Fairness audit" in card and "no face recognition" in card
    client = MlflowClient(tracking_uri=tracking.tracking_uri, registry_uri=tracking.tracking_uri)
    logged = {a.path for a in client.list_artifacts(client.get_model_version(REGISTERED_MODEL, version).run_id)}
    assert {"model_card.md", "model_card.html"} <= logged
    assert resolve_model("auto", tracking=tracking, cache_dir=tmp_path / "cache", env={}).origin == "bundled"
    MlflowClient(tracking_uri=tracking.tracking_uri, registry_uri=tracking.tracking_uri).set_registered_model_alias(
        REGISTERED_MODEL, "champion", version)
    got = resolve_model(None, tracking=tracking, cache_dir=tmp_path / "cache", env={})
    assert (got.origin, got.uri) == ("mlflow", f"models:/{REGISTERED_MODEL}/{version}")
    assert got.path.parent == tmp_path / "cache"
    assert OnnxYolo(got.path).names == {0: "person", 1: "vehicle"}
    with pytest.raises(ValueError, match="cannot be loaded"):
        resolve_model(f"models:/{REGISTERED_MODEL}@nosuchalias", tracking=tracking, cache_dir=tmp_path / "c", env={})


# -- the landing folder -------------------------------------------------------------------

@pytest.mark.parametrize("name, sidecar, expected, origin", [
    ("clip.mp4", {"start_time": "2024-05-01T22:00:00Z"}, dt.datetime(2024, 5, 1, 22, tzinfo=UTC), "sidecar"),
    ("clip.mp4", {"start_time": "2024-05-01T17:00:00-05:00"}, dt.datetime(2024, 5, 1, 22, tzinfo=UTC), "sidecar"),
    ("clip.mp4", {"start_time": "2024-05-01T22:00:00"}, dt.datetime(2024, 5, 1, 22, tzinfo=UTC), "sidecar"),
    ("cam_20240501T220510Z.mp4", None, dt.datetime(2024, 5, 1, 22, 5, 10, tzinfo=UTC), "file name"),
    ("cam_20240501T220510Z.mp4", {"camera_id": "x"}, dt.datetime(2024, 5, 1, 22, 5, 10, tzinfo=UTC), "file name"),
    ("clip.mp4", None, None, "mtime"),
])
def test_clip_start_time(tmp_path, name, sidecar, expected, origin):
    path = tmp_path / name
    path.write_bytes(b"x")
    if sidecar is not None:
        path.with_suffix(".json").write_text(json.dumps(sidecar))
    assert clip_start_time(path) == (expected, origin)


@pytest.mark.parametrize("text", ["not json", '{"start_time": "yesterday"}', "[1, 2]"])
def test_bad_sidecar_is_an_error_naming_the_file(tmp_path, text):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x")
    path.with_suffix(".json").write_text(text)
    with pytest.raises(ValueError, match="clip.json"):
        clip_start_time(path)


def test_landing_listing(tmp_path):
    day = tmp_path / "video" / "CAM-1" / "2026-11-28"
    day.mkdir(parents=True)
    for name in ("b.mp4", "a.avi", "a.json", ".partial.mp4", "~lock", "_tmp.mp4"):
        (day / name).write_bytes(b"x")
    (tmp_path / "video" / "CAM-1" / "misc").mkdir()
    (tmp_path / "video" / "CAM-1" / "misc" / "c.mp4").write_bytes(b"x")
    assert [p.name for p in video_files(tmp_path, "2026-11-28")] == ["a.avi", "b.mp4"]
    assert video_files(tmp_path, "2026-11-27") == [] and video_files(tmp_path / "none", "2026-11-28") == []
    assert camera_of(day / "a.avi") == "CAM-1"
    found, skipped = new_video_files(tmp_path, set())
    assert [p.name for p in found["2026-11-28"]] == ["a.avi", "a.json", "b.mp4"]  # sidecars count as changes
    assert skipped == [str(tmp_path / "video" / "CAM-1" / "misc")]
