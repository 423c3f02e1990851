"""The vision assets wired into the project's definitions the way orchestration/definitions.py would."""

from __future__ import annotations

import pytest

from orchestration.ingest.partitions import INGEST_DATES
from orchestration.vision.assets import build_vision_assets
from orchestration.vision.partitions import VIDEOS


@pytest.mark.parametrize("demo, expected", [
    (True, {"demo_video", "detections", "video_rejects", "video_events"}),
    (False, {"detections", "video_rejects", "video_events"}),
])
def test_vision_assets_build_with_and_without_the_demo_clip(demo, expected):
    vision = build_vision_assets(demo=demo)
    assert {k.to_user_string() for a in vision for k in a.keys} == expected
    # grouped by the layer of the table each writes; the demo clip generator with the demo feeds
    layers = {"detections": "silver", "video_rejects": "quarantine", "video_events": "gold"}
    layers |= {"demo_video": "demo"} if demo else {}
    assert {k.to_user_string(): a.group_names_by_key[k] for a in vision for k in a.keys} == layers
    by_key = {k.to_user_string(): a.partitions_def for a in vision for k in a.keys}
    assert {k for k, p in by_key.items() if p == VIDEOS} == {"detections", "video_rejects", "video_events"}
    assert by_key.get("demo_video", INGEST_DATES) == INGEST_DATES


def test_per_file_assets_have_their_own_job(tmp_path):
    """``crimefusion_all`` keeps the daily assets (``demo_video`` lands the clip); ``video_detection`` runs a file."""
    from orchestration.definitions import build_definitions
    from orchestration.settings import load_settings

    env = {"CRIMEFUSION_LAKE": str(tmp_path / "lake"), "CRIMEFUSION_LANDING": str(tmp_path / "landing"),
           "CRIMEFUSION_HOME": str(tmp_path / "home")}
    defs = build_definitions(load_settings(env))
    daily = defs.resolve_job_def("crimefusion_all")
    keys = {k.to_user_string() for k in daily.asset_layer.executable_asset_keys}
    assert {"cameras", "demo_video", "events"} <= keys
    assert not keys & {"detections", "video_rejects", "video_events"}
    assert daily.partitions_def == INGEST_DATES
    video = defs.resolve_job_def("video_detection")
    assert {k.to_user_string() for k in video.asset_layer.executable_asset_keys} == {
        "detections", "video_rejects", "video_events"}
    assert video.partitions_def == VIDEOS
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {"detections_valid", "detections_match_demo_truth"} <= checks
    assert defs.resolve_sensor_def("video_sensor").job_name == "video_detection"
    assert set(defs.resources) >= {"lakehouse", "sources", "mlflow"}


def test_run_order_puts_the_clip_before_detection_and_detection_before_fusion(tmp_path):
    """``run_pipeline``'s first run holds what the detections need; its last holds fusion (it reads them)."""
    from orchestration.cli.run import run_pipeline
    from orchestration.definitions import build_definitions
    from orchestration.settings import load_settings

    env = {"CRIMEFUSION_LAKE": str(tmp_path / "lake"), "CRIMEFUSION_LANDING": str(tmp_path / "landing"),
           "CRIMEFUSION_HOME": str(tmp_path / "home")}
    defs = build_definitions(load_settings(env))
    calls = []

    class Ok:
        success = True

    def record(job, key, selection, label):
        calls.append((job.name, key, {k.to_user_string() for k in selection} if selection else None))
        if job.name == "crimefusion_all" and len(calls) == 1:  # as demo_video would: land one clip for the day
            folder = tmp_path / "landing" / "video" / "CAM-1" / key
            folder.mkdir(parents=True)
            (folder / "clip.mp4").write_bytes(b"not run here")
        return Ok()

    import dagster as dg

    instance = dg.DagsterInstance.ephemeral()
    run_pipeline(defs, instance, "2026-11-28", record)
    assert [(c[0], c[1]) for c in calls] == [("crimefusion_all", "2026-11-28"),
                                           ("video_detection", "CAM-1/2026-11-28/clip.mp4"),
                                           ("crimefusion_all", "2026-11-28")]
    first, last = calls[0][2], calls[2][2]
    assert {"demo_video", "cameras", "synthetic_feeds"} <= first and "events" not in first
    assert {"events", "incident_context", "cell_features"} <= last and not first & last
    assert instance.get_dynamic_partitions(VIDEOS.name) == ["CAM-1/2026-11-28/clip.mp4"]
