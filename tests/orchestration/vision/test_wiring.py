"""The vision assets wired into the project's definitions the way orchestration/definitions.py would."""

from __future__ import annotations

import pytest

from orchestration.ingest.assets import INGEST_DATES
from orchestration.vision.assets import build_vision_assets


@pytest.mark.parametrize("demo, expected", [
    (True, {"demo_video", "detections", "video_rejects", "video_events"}),
    (False, {"detections", "video_rejects", "video_events"}),
])
def test_one_run_materialises_the_vision_assets_with_everything_else(tmp_path, demo, expected):
    """``crimefusion_all`` (every asset but the weekly forecast, one ingest-date partition) still resolves."""
    from orchestration.definitions import build_definitions
    from orchestration.settings import load_settings

    env = {"CRIMEFUSION_LAKE": str(tmp_path / "lake"), "CRIMEFUSION_LANDING": str(tmp_path / "landing"),
           "CRIMEFUSION_HOME": str(tmp_path / "home")}
    base = build_definitions(load_settings(env))
    vision = build_vision_assets(demo=demo)
    assert {k.to_user_string() for a in vision for k in a.keys} == expected
    assert {a.group_names_by_key[k] for a in vision for k in a.keys} == {"vision"}
    defs = base  # orchestration/definitions.py registers the vision family when cameras are ingested
    job = defs.resolve_job_def("crimefusion_all")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert expected <= keys and {"cameras", "events"} <= keys
    assert job.partitions_def == INGEST_DATES  # the vision assets share the feeds' ingest dates
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {"detections_valid", "detections_match_demo_truth"} <= checks
    assert defs.resolve_sensor_def("video_sensor") is not None
    assert set(defs.resources) >= {"lakehouse", "sources", "mlflow"}
