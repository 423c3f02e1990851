"""The weekly forecast job and its schedule (forecast and patrol plan, one week per partition)."""

from __future__ import annotations

import dagster as dg

from orchestration.hotspots.assets import hotspot_forecast, patrol_plan
from orchestration.hotspots.partitions import FORECAST_WEEKS

hotspot_weekly_job = dg.define_asset_job(
    "hotspot_forecast_weekly",
    selection=dg.AssetSelection.assets(hotspot_forecast, patrol_plan),
    partitions_def=FORECAST_WEEKS,
    description="Score the week with the champion model and plan patrols (one week partition).",
)

#: Monday 01:00 UTC: forecast the week that starts that day.
hotspot_weekly_schedule = dg.build_schedule_from_partitioned_job(
    hotspot_weekly_job, hour_of_day=1,
    description="Monday 01:00 UTC: hotspot_forecast_weekly for the week that starts that day (forecast with the "
                "champion model, then the patrol plan).")
