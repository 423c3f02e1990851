"""``video_sensor`` and the ``video_detection`` job: one run per clip dropped in ``<landing>/video/<camera_id>/<YYYY-MM-DD>/``.

Every 30 s the sensor lists the video landing folder. Each clip it has not seen
(path, modification time and size; sidecars count, so a corrected ``clip.json``
re-runs its clip) becomes a ``videos`` partition key (``<camera_id>/<date>/<file>``,
``orchestration.vision.partitions``), which the sensor adds to the instance and
requests in its own run of ``detections``, ``video_rejects`` and ``video_events``.
Run keys make a request idempotent; folders not named by a date, and files whose
name cannot be a partition key, are logged and skipped.
"""


import json

import dagster as dg

from orchestration.resources.sources import SourceCatalog
from orchestration.vision.landing import clips_of, file_token, new_video_files, video_key
from orchestration.vision.partitions import VIDEOS

#: The per-file vision assets (partitioned by ``VIDEOS``): outside ``crimefusion_all``, whose assets are daily.
TARGETS = ["detections", "video_rejects", "video_events"]
VIDEO_JOB = "video_detection"

video_detection_job = dg.define_asset_job(
    VIDEO_JOB,
    selection=dg.AssetSelection.assets(*TARGETS),
    partitions_def=VIDEOS,
    tags={"crimefusion/job": "video"},
    description=("Detect, track and geolocate objects in one landed video file (partition "
                 "<camera_id>/<date>/<file>), replace that file's detections, rejects and video events."),
)


@dg.sensor(
    name="video_sensor",
    job=video_detection_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Adds a `videos` partition per new clip in <landing>/video/<camera_id>/<YYYY-MM-DD>/ and runs it.",
)
def video_sensor(context: dg.SensorEvaluationContext, sources: SourceCatalog):
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    landing = sources.landing_path()
    found, skipped = new_video_files(landing, seen)
    for folder in skipped:
        context.log.warning(f"video_sensor: {folder} is not named YYYY-MM-DD; its files are ignored")
    tokens = set(seen)
    keys: dict[str, list[str]] = {}  # partition key -> tokens of the new files (clip, sidecar) behind it
    for f in (f for files in found.values() for f in files):
        token = file_token(f)
        tokens.add(token)
        for clip in clips_of([f]):
            try:
                keys.setdefault(video_key(landing, clip), []).append(token)
            except ValueError as exc:
                context.log.warning(f"video_sensor: {exc}; skipped")
    known = set(context.instance.get_dynamic_partitions(VIDEOS.name)) if keys else set()
    new_keys = sorted(k for k in keys if k not in known)
    requests = [dg.RunRequest(run_key=f"video:{key}:" + ",".join(sorted(toks)), partition_key=key,
                              tags={"crimefusion/source": "video", "crimefusion/camera": key.split("/")[0]})
                for key, toks in sorted(keys.items())]
    cursor = json.dumps(sorted(tokens))
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new video in <landing>/video/"), cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor,
                           dynamic_partitions_requests=[VIDEOS.build_add_request(new_keys)] if new_keys else [])


SENSORS = [video_sensor]
JOBS = [video_detection_job]
