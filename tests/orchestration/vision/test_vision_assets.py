"""The vision assets on the demo clip in a temporary lake: detections, quarantine, events, checks, sensor.

A module-scoped fixture materialises ``demo_video`` for one ingest date, then
``detections``/``video_rejects`` -> ``video_events`` with their checks once per
landed file (``videos`` partitions, as ``video_sensor`` and ``crimefusion run``
do), with the bundled demo model (data/vision/demo-yolo.onnx), after three more
files were dropped in the landing folder: a corrupt ``.mp4``, a clip of a camera
with two control points (uncalibrated) and a clip of a camera that is not in
silver/cameras.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jobs.schemas import CAMERAS, UTC_TS
from orchestration.resources.lakehouse import LocalLakehouse
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog
from orchestration.resources.tracking import default_tracking
from orchestration.vision import checks as vision_checks
from orchestration.vision.assets import build_vision_assets
from orchestration.vision.landing import video_dir, video_files, video_key
from orchestration.vision.partitions import VIDEOS
from orchestration.vision.sensors import video_sensor
from vision.synthetic import render_clip, synthetic_camera

DAY = "2026-11-28"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
INCIDENT_AT = dt.datetime(2017, 12, 1, 20, 0, tzinfo=dt.timezone.utc)


def _camera_1080p(camera_id: str, n_points: int = 6) -> dict:
    """The synthetic camera calibrated in 1920x1080 pixels (its 640x360 control points times 3)."""
    cam = synthetic_camera(camera_id, n_points=max(n_points, 4))
    cps = [dict(p, u=p["u"] * 3, v=p["v"] * 3) for p in cam["control_points"]][:n_points]
    return {**cam, "control_points": cps}


@pytest.fixture(scope="module")
def vision_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("vision")
    lake = LocalLakehouse(root=str(base / "lake"))
    landing = base / "landing"
    cams = [_camera_1080p("CAM-A"), _camera_1080p("CAM-B", n_points=2)]
    table = pa.Table.from_pylist(cams, schema=pa.schema([CAMERAS.field(c) for c in
                                                         ("camera_id", "lon", "lat", "heading_deg", "control_points")]))
    lake.overwrite("silver", "cameras", table)
    lake.overwrite("silver", "incidents", pa.table({
        "occurred_at": pa.array([INCIDENT_AT, INCIDENT_AT - dt.timedelta(days=3)], UTC_TS),
        # ~35 m north of the camera: the middle of its view (it looks north, 6-70 m ahead); and 4 km east
        "lon": [cams[0]["lon"], cams[0]["lon"] + 0.05], "lat": [cams[0]["lat"] + 0.0003, cams[0]["lat"]]}))
    # the bad input, dropped before the run
    a = video_dir(landing, "CAM-A", DAY)
    a.mkdir(parents=True)
    (a / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    b = render_clip(video_dir(landing, "CAM-B", DAY) / "cam_b_20240501T220000Z.avi", n_frames=10, seed=3)
    x = render_clip(video_dir(landing, "CAM-X", DAY) / "clip.avi", n_frames=10, seed=4)
    x.path.with_suffix(".json").write_text(json.dumps({"start_time": "2024-05-02T08:30:00Z"}))
    resources = {"lakehouse": lake, "sources": SourceCatalog(spec_paths=[], landing=str(landing)),
                 "mlflow": default_tracking(base / "home"), "reports": Reports(home=str(base / "home"))}
    mp = pytest.MonkeyPatch()
    mp.delenv("CRIMEFUSION_VISION_MODEL", raising=False)
    assets = build_vision_assets(demo=True)
    demo = [a for a in assets if dg.AssetKey("demo_video") in a.keys]
    per_file = [a for a in assets if a not in demo]
    instance = dg.DagsterInstance.ephemeral()
    results = [dg.materialize(demo, resources=resources, instance=instance, partition_key=DAY, raise_on_error=False,
                              run_config={**QUIET, "ops": {"demo_video": {"config": {"cameras": 2}}}})]
    keys = [video_key(landing, f) for f in video_files(landing, DAY)]
    instance.add_dynamic_partitions(VIDEOS.name, keys)
    for key in keys:
        results.append(dg.materialize(
            [*per_file, vision_checks.detections_valid, vision_checks.detections_match_demo_truth],
            resources=resources, instance=instance, partition_key=key, run_config=QUIET, raise_on_error=False))
    yield {"lake": lake, "landing": landing, "results": results, "keys": keys, "resources": resources,
           "assets": assets, "instance": instance, "uncalibrated_clip": b.path, "unknown_clip": x.path, "base": base}
    mp.undo()


def test_one_partition_per_landed_file(vision_run):
    assert vision_run["keys"] == ["CAM-A/2026-11-28/broken.mp4", "CAM-A/2026-11-28/clip.mp4",
                                  "CAM-B/2026-11-28/cam_b_20240501T220000Z.avi", "CAM-X/2026-11-28/clip.avi"]
    runs = vision_run["results"][1:]
    assert [r.dagster_run.tags["dagster/partition"] for r in runs] == vision_run["keys"]


def test_runs_succeed_and_checks_pass(vision_run):
    for result in vision_run["results"]:
        failures = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert result.success, failures
    demo_clip = vision_run["results"][1 + vision_run["keys"].index("CAM-A/2026-11-28/clip.mp4")]
    evaluations = {e.check_name: e for e in demo_clip.get_asset_check_evaluations()}
    assert evaluations["detections_valid"].passed
    assert evaluations["detections_match_demo_truth"].passed
    accuracy = evaluations["detections_match_demo_truth"].metadata
    assert accuracy["median_ground_error_m"].value < 1.5


def test_demo_clip_lands_for_the_calibrated_camera_only(vision_run):
    landing = vision_run["landing"]
    clip = video_dir(landing, "CAM-A", DAY) / "clip.mp4"
    assert clip.is_file() and clip.stat().st_size > 10_000
    side = json.loads(clip.with_suffix(".json").read_text())
    # stamped at the incident in the camera's view, not the one 4 km away
    start = dt.datetime.fromisoformat(side["start_time"].replace("Z", "+00:00"))
    assert dt.timedelta(0) < INCIDENT_AT - start <= dt.timedelta(seconds=3)
    assert not (video_dir(landing, "CAM-B", DAY) / "clip.mp4").exists()  # two control points: no demo clip
    truth = vision_run["lake"].read("truth", "video_objects")
    assert set(truth["camera_id"].to_pylist()) == {"CAM-A"} and truth.num_rows > 100


def test_detections_are_located_and_timed(vision_run):
    lake = vision_run["lake"]
    det = lake.read("silver", "detections")
    a = det.filter(pc.equal(det["camera_id"], "CAM-A"))
    assert a.num_rows > 100
    assert a["lon"].null_count == a["lat"].null_count == a["h3"].null_count == 0
    assert set(a["class_name"].to_pylist()) == {"person", "vehicle"}
    t0 = pc.min(a["frame_time"]).as_py()
    assert dt.timedelta(0) < INCIDENT_AT - t0 <= dt.timedelta(seconds=3)
    assert pc.max(a["frame_time"]).as_py() - t0 <= dt.timedelta(seconds=6)
    cam = _camera_1080p("CAM-A")
    assert abs(pc.mean(a["lon"]).as_py() - cam["lon"]) < 0.001  # within ~80 m of the camera
    # the uncalibrated camera's detections are kept, without a ground point
    b = det.filter(pc.equal(det["camera_id"], "CAM-B"))
    assert b.num_rows > 0 and b["lon"].null_count == b.num_rows
    assert pc.min(b["frame_time"]).as_py() == dt.datetime(2024, 5, 1, 22, 0, tzinfo=dt.timezone.utc)  # name stamp
    x = det.filter(pc.equal(det["camera_id"], "CAM-X"))
    assert pc.min(x["frame_time"]).as_py() == dt.datetime(2024, 5, 2, 8, 30, tzinfo=dt.timezone.utc)  # sidecar


def test_bad_input_is_quarantined_and_the_batch_goes_on(vision_run):
    rej = vision_run["lake"].read("quarantine", "video_rejects").to_pylist()
    by_file = {(Path(r["source_file"]).name, r["rule"]) for r in rej}
    assert ("broken.mp4", "video_unreadable") in by_file
    assert (vision_run["uncalibrated_clip"].name, "camera_uncalibrated") in by_file
    assert (vision_run["unknown_clip"].name, "camera_unknown") in by_file
    assert len(rej) == 3
    assert all(r["reason"] and r["source"] == "video" for r in rej)


def test_video_events_count_tracks_at_the_camera_site(vision_run):
    ev = vision_run["lake"].read("gold", "video_events")
    counts = ev.filter(pc.equal(ev["event_type"], "class_count"))
    assert counts.num_rows > 0
    # one source per clip with detections: the camera's clip that yields no tracks (broken.mp4) has none
    det_sources = set(vision_run["lake"].read("silver", "detections", columns=["source"])["source"].to_pylist())
    assert set(ev["source"].to_pylist()) == det_sources and len(det_sources) == 3
    a = counts.filter(pc.equal(counts["camera_id"], "CAM-A"))
    # 5 objects in the clip (1 loiterer + lanes); the tracker may split a few tracks, never fewer objects than classes
    assert 2 <= pc.sum(a["value"]).as_py() <= 12
    assert a["lon"].null_count == 0 and a["h3"].null_count == 0


def _by_source(lake, layer, name, column="source"):
    t = lake.read(layer, name, columns=[column])
    return {r[column]: r["count_all"] for r in t.group_by(column).aggregate([([], "count_all")]).to_pylist()}


@pytest.mark.parametrize("key", ["CAM-A/2026-11-28/clip.mp4", "CAM-B/2026-11-28/cam_b_20240501T220000Z.avi"])
def test_rematerialising_a_file_replaces_its_rows_only(vision_run, key):
    lake = vision_run["lake"]
    tables = [("silver", "detections", "source"), ("quarantine", "video_rejects", "source_file"),
              ("gold", "video_events", "source")]
    before = [_by_source(lake, *t) for t in tables]
    assert before[0][f"video/{key}"] > 0
    per_file = [a for a in vision_run["assets"] if dg.AssetKey("demo_video") not in a.keys]
    version = lake.table("silver", "detections").version()
    res = dg.materialize(per_file, resources=vision_run["resources"], instance=vision_run["instance"],
                         partition_key=key, run_config=QUIET)
    assert res.success
    assert lake.table("silver", "detections").version() > version  # rewritten, not skipped
    assert [_by_source(lake, *t) for t in tables] == before


def test_sources_are_relative_to_the_landing_root(vision_run):
    """Rows name their clip ``video/<camera>/<date>/<file>``, not a path of the machine that ran the detection,
    in silver detections, gold video_events, the demo truth and, through the fusion kernel, gold events."""
    from jobs.fusion.events import detection_events
    from orchestration.resources.compute import Compute

    lake = vision_run["lake"]
    with_rows = {f"video/{k}" for k in vision_run["keys"] if not k.endswith("broken.mp4")}
    det = lake.read("silver", "detections")
    assert set(det["source"].to_pylist()) == with_rows
    assert set(lake.read("gold", "video_events", columns=["source"])["source"].to_pylist()) == with_rows
    assert set(lake.read("truth", "video_objects", columns=["source"])["source"].to_pylist()) == {
        "video/CAM-A/2026-11-28/clip.mp4"}
    located = det.filter(pc.is_valid(det["lon"]))
    events = detection_events(located, boundaries=None, ctx=Compute().sedona())
    assert set(events["source"].to_pylist()) <= with_rows and events.num_rows == located.num_rows
    assert not any(str(vision_run["base"]) in s for s in events["event_id"].to_pylist())


def _as_if_written_elsewhere(lake, layer, name, key, root="/old/machine/landing"):
    """Rewrite a clip's rows (all rows for truth) as lakes before relative sources stored them: an absolute path."""
    t = lake.read(layer, name)
    mine = pc.equal(t["source"], f"video/{key}") if key else pc.is_valid(t["source"])
    old = pc.if_else(mine, pc.binary_join_element_wise(root, t["source"], "/"), t["source"])
    lake.overwrite(layer, name, t.set_column(t.schema.get_field_index("source"), t.schema.field("source"), old))


def test_rows_an_older_lake_stored_with_absolute_paths_still_work(vision_run):
    """Old rows (absolute paths of another machine) are replaced by a re-run, never doubled, and the demo-truth check
    still pairs old truth rows with new detections."""
    lake, key = vision_run["lake"], "CAM-A/2026-11-28/clip.mp4"
    tables = [("silver", "detections"), ("gold", "video_events")]
    before = [_by_source(lake, *t) for t in tables]
    for layer, name in tables:
        _as_if_written_elsewhere(lake, layer, name, key)
    _as_if_written_elsewhere(lake, "truth", "video_objects", None)
    assert f"/old/machine/landing/video/{key}" in _by_source(lake, "silver", "detections")
    per_file = [a for a in vision_run["assets"] if dg.AssetKey("demo_video") not in a.keys]
    res = dg.materialize([*per_file, vision_checks.detections_match_demo_truth], resources=vision_run["resources"],
                         instance=vision_run["instance"], partition_key=key, run_config=QUIET)
    assert res.success
    assert [_by_source(lake, *t) for t in tables] == before  # the old rows replaced, not kept beside the new
    truth_check = {e.check_name: e for e in res.get_asset_check_evaluations()}["detections_match_demo_truth"]
    assert truth_check.passed and "note" not in truth_check.metadata  # old truth rows matched the new detections
    assert truth_check.metadata["median_ground_error_m"].value < 1.5


def test_video_sensor_adds_and_requests_each_new_file_once(vision_run):
    landing = vision_run["landing"]
    resources = {"sources": vision_run["resources"]["sources"]}
    instance = dg.DagsterInstance.ephemeral()
    first = video_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    # one run per clip; the sidecars (clip.json) stand for their clips
    assert [r.partition_key for r in first.run_requests] == vision_run["keys"]
    assert [req.partition_keys for req in first.dynamic_partitions_requests] == [vision_run["keys"]]
    assert first.dynamic_partitions_requests[0].partitions_def_name == VIDEOS.name
    assert len({r.run_key for r in first.run_requests}) == 4
    instance.add_dynamic_partitions(VIDEOS.name, vision_run["keys"])  # what the daemon does with the request
    again = video_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor))
    assert not again.run_requests and again.skip_reason is not None
    new = video_dir(landing, "CAM-A", "2026-11-29")
    new.mkdir(parents=True)
    (new / "late.mp4").write_bytes((video_dir(landing, "CAM-A", DAY) / "clip.mp4").read_bytes())
    (landing / "video" / "CAM-A" / "not-a-date").mkdir()
    sidecar = vision_run["unknown_clip"].with_suffix(".json")
    sidecar.write_text(json.dumps({"start_time": "2024-05-02T08:31:00Z"}))  # a corrected start time
    later = video_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor))
    assert [r.partition_key for r in later.run_requests] == ["CAM-A/2026-11-29/late.mp4", "CAM-X/2026-11-28/clip.avi"]
    assert later.run_requests[0].tags["crimefusion/camera"] == "CAM-A"
    # only the new file is a new partition; the corrected clip re-runs its own under a new run key
    assert [req.partition_keys for req in later.dynamic_partitions_requests] == [["CAM-A/2026-11-29/late.mp4"]]
    assert later.run_requests[1].run_key not in {r.run_key for r in first.run_requests}
