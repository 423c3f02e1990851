"""Video analytics assets (group ``vision``): demo clips, YOLO detections, video events, quarantine.

- ``demo_video`` (synthetic deployments only): renders the held-out synthetic
  surveillance clip (``vision.synthetic.render_clip``) for the calibrated silver
  cameras whose view saw the latest incident, at their calibrated frame size (1920x1080), into
  ``<landing>/video/<camera_id>/<date>/clip.mp4`` with a sidecar ``clip.json``
  (first-frame time). The clip's true boxes, seen through the camera's own
  control-point homography, go to ``truth/video_objects``. The clip is stamped at
  the latest silver incident near the camera, so fusion has a detection to join.
- ``detections`` (``silver/detections``, ``vision.schemas.DETECTIONS``) and
  ``video_rejects`` (``quarantine/video_rejects``): one landed clip (the
  partition) through the fixed sequence of ``vision.predictor.Detector``
  (ONNX Runtime; no torch), geolocated with the camera's control points. A clip
  that cannot be read, or a camera that is unknown or uncalibrated, is
  quarantined with its reason.
- ``video_events`` (``gold/video_events``): class counts per minute, crowd
  surges and, with a zone, loitering (``vision.events``) over the clip's detections.

``demo_video`` is partitioned by ingest date (it lands the day's clip with the
feeds); the other three by video file (``orchestration.vision.partitions.VIDEOS``,
key ``<camera_id>/<date>/<file>``), and every materialisation replaces the rows
of its file only (``replace_where source = ...``), so re-running a file is
idempotent and a bad file never blocks another. They run in the
``video_detection`` job (``orchestration.vision.sensors``), one run per new
file. Events are per file because a clip is one continuous recording: the
tracker numbers tracks per clip, and a crowd-surge baseline taken across two
clips would compare with a time the camera did not record. The model: see
``orchestration.vision.model``.
"""


import os
from pathlib import Path

import dagster as dg
import pyarrow as pa
from pydantic import Field

from jobs.schemas import REJECTS
from orchestration.ingest.partitions import INGEST_DATES
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.lakehouse.metadata import lake_table, table_metadata
from orchestration.resources.lakehouse import Lakehouse, in_list
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog
from orchestration.resources.tracking import MlflowTracking
from orchestration.vision.landing import (camera_of, clip_predicate, clip_source, clip_sources, clip_start_time,
                                          video_dir, video_key, video_of_key)
from orchestration.vision.partitions import VIDEOS
from orchestration.vision.model import BUNDLED_MODEL, CHAMPION, MODEL_ENV, REGISTERED_MODEL, resolve_model
from orchestration.platform.retries import STORAGE_RETRY
from vision.cameras import read_cameras
from vision.schemas import DETECTIONS, VIDEO_EVENTS

__all__ = ["build_vision_assets", "DemoVideoConfig", "VisionConfig", "VideoEventsConfig", "DETECTIONS_LAYER",
           "TRUTH_TABLE", "detection_settings"]

OWNERS = ["team:video-analytics"]
#: Assets are grouped by the layer of the table they write (the domain shows as the tag
#: ``crimefusion/domain: vision``). ``silver/detections`` is where fusion (jobs/fusion/events.py, context.py) and DESIGN.md read them.
DETECTIONS_LAYER = "silver"
REJECTS_TABLE = "video_rejects"
TRUTH_TABLE = "video_objects"

# -- demo_video ---------------------------------------------------------------------

class DemoVideoConfig(dg.Config):
    cameras: int = Field(default=1, ge=1, description=(
        "How many calibrated silver cameras (by id) get a demo clip. The first gets the held-out clip of "
        "data/vision/README.md (seed 1); later seeds are harder for the demo model (seed 2: precision 0.61)."))
    n_frames: int = Field(default=60, ge=1, description="Frames per clip.")
    fps: float = Field(default=10.0, gt=0, description="Frame rate of the clips.")
    seed: int = Field(default=1, description="Seed of the first clip (the next camera gets seed + 1...); seed 1 "
                                             "is the held-out clip of data/vision/README.md.")
    near_incident_m: float = Field(default=50.0, gt=0, description=(
        "Pick the cameras whose view (centre of the control points) has the latest silver incident within this "
        "distance, and stamp each clip at that incident (else 22:00 UTC of the ingest date), so that fusion's "
        "camera context (100 m, 30 min by default) has something to show."))


def _demo_video_asset() -> dg.AssetsDefinition:
    @dg.asset(
        key="demo_video",
        retry_policy=STORAGE_RETRY,
        # a demo clip made from silver cameras and incidents: its own group, so the layers keep their order
        # (synthetic > bronze > silver > gold) with only this demo between silver and silver
        group_name="demo",
        kinds={"python", "video"},
        owners=OWNERS,
        partitions_def=INGEST_DATES,
        deps=["cameras", "incidents"],
        description=(
            "Demo camera video: the synthetic held-out surveillance clip (real street frames from "
            "data/vision with rendered people and vehicles whose boxes are known) written for the "
            "calibrated silver cameras (those whose view saw the latest incident) at their 1920x1080 "
            "calibration size to "
            "<landing>/video/<camera_id>/<date>/clip.mp4, with clip.json giving the first frame's time "
            "(the latest incident near the camera). The true boxes and their ground points through the "
            "camera's control-point homography go to truth/video_objects. Synthetic deployments only."
        ),
    )
    @skip_unchanged()
    def demo_video(context: dg.AssetExecutionContext, config: DemoVideoConfig, lakehouse: Lakehouse,
                   sources: SourceCatalog) -> dg.MaterializeResult:
        from vision.cameras import by_latest_incident, calibrated
        from vision.synthetic import calibration_size, demo_clip_start, write_demo_clip

        day = context.partition_key
        cams = read_cameras(lakehouse)
        ids = calibrated(cams)
        rows = sorted((r for r in cams.to_pylist() if r["camera_id"] in ids), key=lambda r: r["camera_id"])
        if not rows:
            raise ValueError("demo_video: no silver camera with 4+ control points; materialise `cameras` "
                             "(synthetic feeds) first")
        incidents = (lakehouse.read("silver", "incidents", columns=["occurred_at", "lon", "lat"])
                     if lakehouse.exists("silver", "incidents") else None)
        size = calibration_size()
        truths, written, paths, keys = [], [], [], []
        # the cameras whose view saw the latest incidents come first
        for i, (cam, near) in enumerate(by_latest_incident(rows, incidents, config.near_incident_m)[: config.cameras]):
            start = demo_clip_start(near, day, config.n_frames, config.fps)
            path = video_dir(sources.landing_path(), cam["camera_id"], day).resolve() / "clip.mp4"
            t = write_demo_clip(path, cam, start=start, n_frames=config.n_frames, fps=config.fps, seed=config.seed + i,
                                size=size)
            paths += [str(path), str(path.with_suffix(".json"))]
            key = video_key(sources.landing_path(), path)
            truths.append(t.set_column(t.schema.get_field_index("source"), t.schema.field("source"),
                                       pa.array([clip_source(key)] * t.num_rows, pa.string())))
            keys.append(key)
            written.append(f"- `{path}`: {cam['camera_id']}, {config.n_frames} frames from {start.isoformat()}"
                           f"{' (incident nearby)' if near is not None else ''}, {t.num_rows} true boxes")
            context.log.info(f"demo clip for {cam['camera_id']}: {path} ({t.num_rows} true boxes)")
        truth = pa.concat_tables(truths)
        # a clip's truth named relative to the landing root; rows of older lakes (absolute paths) are replaced too
        result = lakehouse.replace_where("truth", TRUTH_TABLE, truth, " OR ".join(map(clip_predicate, keys)))
        return dg.MaterializeResult(metadata={
            "clips": dg.MetadataValue.md("\n".join(written)),
            "output_files": dg.MetadataValue.json(paths),
            "truth": dg.MetadataValue.path(result.uri),
            "true_boxes": dg.MetadataValue.int(truth.num_rows),
            "frame_size": dg.MetadataValue.text(f"{size[0]}x{size[1]}"),
        })

    return demo_video


# -- detections -------------------------------------------------------------------------

class VisionConfig(dg.Config):
    model: str | None = Field(default=None, description=(
        "'auto' (models:/crimefusion-yolo@champion when registered in MLflow, else the bundled demo model "
        "data/vision/demo-yolo.onnx), a models:/ URI, or a path to an ultralytics YOLO .onnx. "
        "Empty: CRIMEFUSION_VISION_MODEL, else 'auto'."))
    conf_threshold: float = Field(default=0.25, ge=0.0, le=1.0, description="Minimum class score kept.")
    iou_threshold: float = Field(default=0.7, gt=0.0, le=1.0, description="NMS IoU.")
    sample_fps: float | None = Field(default=None, gt=0.0, description="Frames per second kept; empty: every frame.")
    track_fuse_score: bool = Field(default=False, description=(
        "ByteTrack score fusion; off suits models whose scores run low (the demo model), on is ultralytics' default."))
    intra_op_threads: int = Field(default=2, ge=1, description="ONNX Runtime threads.")


def detection_settings(config: VisionConfig):
    """The ``vision.settings.DetectorSettings`` of a run config."""
    from vision.settings import DetectorSettings

    return DetectorSettings(conf_threshold=config.conf_threshold, iou_threshold=config.iou_threshold,
                            sample_fps=config.sample_fps, track_fuse_score=config.track_fuse_score)


def _clip_and_model(context, kwargs) -> list[Path]:
    """The files a detection run reads: the clip, its sidecar and a model given as a local file."""
    clip = video_of_key(kwargs["sources"].landing_path(), context.partition_key)
    model = kwargs["config"].model or os.environ.get(MODEL_ENV) or "auto"
    local = [Path(model)] if "://" not in model and model != "auto" else [BUNDLED_MODEL]
    return [clip, clip.with_suffix(".json"), *local]


def _detections_asset(deps: list[str]) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="detect_video",
        retry_policy=STORAGE_RETRY,
        partitions_def=VIDEOS,
        specs=[
            dg.AssetSpec(
                "detections", group_name=DETECTIONS_LAYER, kinds={"delta", "onnx"}, owners=OWNERS, deps=deps,
                description=(
                    "Silver: one row per tracked object per frame of the clip landed at "
                    "<landing>/video/<partition key> (key <camera_id>/<date>/<file>; vision.schemas.DETECTIONS): "
                    "YOLO on ONNX Runtime, "
                    "ByteTrack ids, box x1/y1/x2/y2 in frame pixels, confidence, and the box's foot point on the "
                    "ground (lon/lat, WKB geometry, H3 res 12) through the camera's control points. "
                    "Re-running a file's partition replaces its rows. Model: config `model` / "
                    "CRIMEFUSION_VISION_MODEL / MLflow champion crimefusion-yolo / bundled demo model."
                ),
                metadata=lake_table(DETECTIONS_LAYER, "detections", DETECTIONS),
            ),
            dg.AssetSpec(
                REJECTS_TABLE, group_name="quarantine", kinds={"delta"}, owners=OWNERS, deps=deps,
                description=(
                    "Quarantine: clips that could not be read (missing, corrupt, empty: video_unreadable; "
                    "stream_dropped), and clips of unknown cameras (camera_unknown) or cameras with fewer than "
                    "four control points (camera_uncalibrated; their detections are kept without lon/lat)."
                ),
                metadata=lake_table("quarantine", REJECTS_TABLE, REJECTS),
            ),
        ],
    )
    @skip_unchanged(models=lambda kw: [(REGISTERED_MODEL, CHAMPION)], files=_clip_and_model)
    def detect_video(context: dg.AssetExecutionContext, config: VisionConfig, lakehouse: Lakehouse,
                     sources: SourceCatalog, mlflow: MlflowTracking, reports: Reports):
        from vision.demo import example_frame_markdown
        from vision.predictor import Detector, reject_row

        key = context.partition_key
        files = [video_of_key(sources.landing_path(), key)]
        model = resolve_model(config.model, tracking=mlflow, cache_dir=reports.models("vision"))
        detector = Detector(model.path, detection_settings(config), intra_op_threads=config.intra_op_threads)
        context.log.info(f"clip {files[0]}; model {model.uri} ({model.origin}), "
                         f"classes {sorted(detector.names.values())}")
        cams = {r["camera_id"]: r for r in read_cameras(lakehouse).to_pylist()}
        jobs, ids, starts, extra = [], [], [], []
        for f in files:
            cid = camera_of(f)
            try:
                start, _ = clip_start_time(f)
            except ValueError as exc:
                extra.append(reject_row(context.run_id, str(f), -1, "sidecar_invalid", "start_time", str(exc),
                                        {"camera_id": cid}))
                start = None  # the file's modification time
            if cid not in cams:
                extra.append(reject_row(context.run_id, str(f), -1, "camera_unknown", "camera_id",
                                        f"camera {cid!r} (the clip's folder) is not in silver/cameras: its detections "
                                        f"are kept without lon/lat; add the camera with 4+ control points",
                                        {"camera_id": cid, "source": str(f)}))
            jobs.append((str(f), cams.get(cid)))
            ids.append(cid)
            starts.append(start)
        batch = detector.run_batch(jobs, camera_ids=ids, start_times=starts)
        det = batch.detections
        rej = pa.concat_tables([batch.rejects, pa.Table.from_pylist(extra, schema=REJECTS)])
        # rows name their clip relative to the landing root (the same on every machine); the file's rows only, also
        # those an older lake stored under the clip's absolute path: another file's partition is never touched
        stored = det.set_column(det.schema.get_field_index("source"), DETECTIONS.field("source"),
                                pa.array([clip_source(key)] * det.num_rows, pa.string()))
        det_result = lakehouse.replace_where(DETECTIONS_LAYER, "detections", stored, clip_predicate(key))
        rej_result = lakehouse.replace_where("quarantine", REJECTS_TABLE, rej,
                                             in_list("source_file", [str(f) for f in files]))
        by_class = {r["class_name"]: r["class_name_count"]
                    for r in det.group_by("class_name").aggregate([("class_name", "count")]).to_pylist()}
        by_rule = {r["rule"]: r["rule_count"] for r in rej.group_by("rule").aggregate([("rule", "count")]).to_pylist()}
        located = det.num_rows - det["lon"].null_count
        ms = {k: round(v, 2) for k, v in batch.timer.ms_per_frame().items()}
        context.log.info(f"{batch.frames} frames, {det.num_rows} detections ({located} located) {by_class}, "
                         f"{rej.num_rows} rejects {by_rule}, {ms['total']} ms/frame")
        meta = {
            **table_metadata(det_result, det.drop_columns(["geometry"]).slice(0, 5)),
            "model": dg.MetadataValue.text(f"{model.uri} ({model.origin})"),
            "clips": dg.MetadataValue.int(len(files)),
            "frames": dg.MetadataValue.int(batch.frames),
            "detections_by_class": dg.MetadataValue.json(by_class),
            "located": dg.MetadataValue.int(located),
            "ms_per_frame": dg.MetadataValue.json(ms),
        }
        png = example_frame_markdown(det, reports.folder("vision") / f"detections_{key.replace('/', '_')}.png")
        if png:
            meta["example_frame"] = dg.MetadataValue.md(png)
        yield dg.MaterializeResult(asset_key="detections", metadata=meta)
        yield dg.MaterializeResult(asset_key=REJECTS_TABLE, metadata={
            **table_metadata(rej_result, rej.slice(0, 5)), "by_rule": dg.MetadataValue.json(by_rule)})

    return detect_video


# -- video_events ----------------------------------------------------------------------

class VideoEventsConfig(dg.Config):
    count_window_s: float = Field(default=60.0, gt=0, description="Window of the class counts.")
    surge_class: str = Field(default="person", description="Class whose crowd size is watched.")
    surge_window_s: float = Field(default=10.0, gt=0, description="Window of the crowd size.")
    surge_baseline_windows: int = Field(default=6, ge=1, description="Previous windows of the median baseline.")
    surge_factor: float = Field(default=2.0, gt=0, description="Surge when size >= factor x baseline ...")
    surge_min_size: int = Field(default=5, ge=1, description="... and size >= this.")
    loitering_zone_wkt: str | None = Field(default=None, description=(
        "A lon/lat polygon (WKT) watched for loitering on every camera; empty: no loitering events."))
    loitering_min_dwell_s: float = Field(default=60.0, ge=0, description="Shortest stay reported as loitering.")


def _video_events_asset() -> dg.AssetsDefinition:
    @dg.asset(
        key="video_events",
        retry_policy=STORAGE_RETRY,
        group_name="gold",
        kinds={"delta", "python"},
        owners=OWNERS,
        partitions_def=VIDEOS,
        deps=["detections"],
        metadata=lake_table("gold", "video_events", VIDEO_EVENTS),
        description=(
            "Gold: events from one clip's detections (partition: the video file; vision/events.py): distinct "
            "tracks per class per camera per minute (class_count), crowd-size surges over the rolling median "
            "within the clip (crowd_surge) and, with a zone configured, loitering. Rows without a ground point "
            "carry the camera's site; `source` is the clip, whose rows a re-run replaces."
        ),
    )
    @skip_unchanged()
    def video_events(context: dg.AssetExecutionContext, config: VideoEventsConfig,
                     lakehouse: Lakehouse, sources: SourceCatalog) -> dg.MaterializeResult:
        from vision.cameras import at_camera_sites
        from vision.events import class_counts, crowd_surges, loitering

        # the clip's name under the landing root, and the absolute path older lakes stored instead
        names = clip_sources(sources.landing_path(), context.partition_key)
        clip = names[0]
        columns = [f.name for f in DETECTIONS if f.name != "geometry"]
        det = (lakehouse.read(DETECTIONS_LAYER, "detections", columns=columns, filters=[("source", "in", names)])
               if lakehouse.exists(DETECTIONS_LAYER, "detections") else DETECTIONS.empty_table().select(columns))
        parts = [class_counts(det, window_s=config.count_window_s),
                 crowd_surges(det, class_name=config.surge_class, window_s=config.surge_window_s,
                              baseline_windows=config.surge_baseline_windows, factor=config.surge_factor,
                              min_size=config.surge_min_size)]
        if config.loitering_zone_wkt:
            parts.append(loitering(det, zone=config.loitering_zone_wkt, min_dwell_s=config.loitering_min_dwell_s))
        events = pa.concat_tables(parts)
        events = at_camera_sites(events, read_cameras(lakehouse))  # rows without a ground point: the camera's site
        events = events.set_column(events.schema.get_field_index("source"), "source",
                                   pa.array([clip] * events.num_rows, pa.string())).cast(VIDEO_EVENTS)
        # evolve: lakes written before video_events had `source` gain the column
        result = lakehouse.replace_where("gold", "video_events", events, clip_predicate(context.partition_key),
                                         evolve_schema=True)
        by_type = {r["event_type"]: r["event_type_count"]
                   for r in events.group_by("event_type").aggregate([("event_type", "count")]).to_pylist()}
        context.log.info(f"video_events: {events.num_rows} events {by_type} from {det.num_rows} detections of {clip}")
        return dg.MaterializeResult(metadata={**table_metadata(result, events.slice(0, 5)),
                                              "by_type": dg.MetadataValue.json(by_type)})

    return video_events


def build_vision_assets(*, demo: bool = True) -> list[dg.AssetsDefinition]:
    """The vision assets; ``demo`` adds ``demo_video`` (synthetic deployments) upstream of the detections."""
    deps = ["cameras", *(["demo_video"] if demo else [])]
    assets = [_detections_asset(deps), _video_events_asset()]
    return [_demo_video_asset(), *assets] if demo else assets
