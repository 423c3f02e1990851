"""``video_sensor``: detects objects in clips dropped in ``<landing>/video/<camera_id>/<YYYY-MM-DD>/``.

Every 30 s it lists the video landing folder and, for each recording date with
files it has not seen (path, modification time and size; sidecars count, so a
corrected ``clip.json`` re-runs its date), requests that date's partition of
``detections`` and ``video_rejects`` and the ``video_events`` built from them.
Run keys make a request idempotent; folders not named by a date are logged and
skipped.
"""


import json

import dagster as dg

from orchestration.resources.sources import SourceCatalog
from orchestration.vision.landing import file_token, new_video_files

TARGETS = ["detections", "video_rejects", "video_events"]


@dg.sensor(
    name="video_sensor",
    asset_selection=dg.AssetSelection.assets(*TARGETS),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Runs detection on new clips in <landing>/video/<camera_id>/<YYYY-MM-DD>/ (one run per date).",
)
def video_sensor(context: dg.SensorEvaluationContext, sources: SourceCatalog):
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    found, skipped = new_video_files(sources.landing_path(), seen)
    for folder in skipped:
        context.log.warning(f"video_sensor: {folder} is not named YYYY-MM-DD; its files are ignored")
    requests, tokens = [], set(seen)
    for day, files in sorted(found.items()):
        day_tokens = sorted(file_token(f) for f in files)
        tokens.update(day_tokens)
        cameras = sorted({f.parent.parent.name for f in files})
        requests.append(dg.RunRequest(
            run_key=f"video:{day}:" + ",".join(day_tokens),
            partition_key=day,
            asset_selection=[dg.AssetKey(k) for k in TARGETS],
            tags={"crimefusion/source": "video", "crimefusion/cameras": ",".join(cameras)[:200]},
        ))
    context.update_cursor(json.dumps(sorted(tokens)))
    if not requests:
        return dg.SkipReason("no new video in <landing>/video/")
    return requests


SENSORS = [video_sensor]
