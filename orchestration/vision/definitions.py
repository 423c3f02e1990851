"""The vision domain's definitions: the demo clip, detections per video file, video events, their job and sensor."""

from __future__ import annotations

import dagster as dg

from orchestration.platform.feeds import Feeds
from orchestration.vision import checks as vision_checks
from orchestration.vision.assets import build_vision_assets
from orchestration.vision.sensors import JOBS, SENSORS


def defs(feeds: Feeds) -> dg.Definitions:
    if not feeds.has("cameras"):
        return dg.Definitions()
    return dg.Definitions(assets=build_vision_assets(demo="cameras" in feeds.synthetic),
                          asset_checks=dg.load_asset_checks_from_modules([vision_checks]),
                          # per video file (dynamic partitions): their own job, one run per clip
                          sensors=SENSORS, jobs=JOBS)
