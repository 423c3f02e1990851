"""The weekly forecast job and its schedule (forecast, patrol plan and its audits, one week per partition)."""

from __future__ import annotations

import dagster as dg

from orchestration.hotspots.assets import hotspot_forecast, patrol_plan
from orchestration.hotspots.partitions import FORECAST_WEEKS

#: The week's audits of the plan (orchestration/hotspots/exposure.py and audits.py), after the plan itself.
PLAN_AUDITS = ("patrol_exposure", "feedback_audit", "patrol_whatif")

hotspot_weekly_job = dg.define_asset_job(
    "hotspot_forecast_weekly",
    selection=dg.AssetSelection.assets(hotspot_forecast, patrol_plan, *PLAN_AUDITS),
    partitions_def=FORECAST_WEEKS,
    description="Score the week with the champion model, plan patrols and audit the plan: exposure per district "
                "and shift, the feedback-loop simulation and the what-if strategies (one week partition).",
)

#: Monday 01:00 UTC: forecast the week that starts that day.
hotspot_weekly_schedule = dg.build_schedule_from_partitioned_job(
    hotspot_weekly_job, hour_of_day=1,
    description="Monday 01:00 UTC: hotspot_forecast_weekly for the week whose Monday is that day (its periods "
                "start at local midnight of the study area: in the Americas before the run, east of UTC a few "
                "hours after it, so a forecast there sees less of the weekend).")
