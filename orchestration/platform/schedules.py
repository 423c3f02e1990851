"""The jobs that span domains, and their schedules: everything, nightly ingestion and fusion, weekly retraining.

They select assets by partition scheme, domain, layer or tag, never by another
domain's asset names: a domain joins a job by what it declares on its assets
(``RETRAIN_TAG`` for the weekly retraining). Groups are lake layers
(``orchestration/platform/lineage.py``), so a job that means "the ingest
domain" says so with the domain tag. A domain's own jobs live in its
``schedules.py`` (``orchestration/hotspots/schedules.py``,
``orchestration/anomalies/schedules.py``, ``orchestration/vision/sensors.py``).
"""

from __future__ import annotations

import dagster as dg

from orchestration.ingest.partitions import INGEST_DATES
from orchestration.platform.automation import RETRAIN_TAG, TRAINS_TAG, tagged
from orchestration.platform.lineage import domains

__all__ = ["build_schedules", "daily_selection", "everything_job", "nightly_job", "retrain_job"]

#: Domains the nightly run lands, refines (ingest; synthetic, the demo feeds) and fuses, with the reference layer.
NIGHTLY_DOMAINS = ("ingest", "synthetic", "fusion")
NIGHTLY_LAYERS = ("reference",)

nightly_job = dg.define_asset_job(
    "nightly_ingest_and_fusion", selection=domains(*NIGHTLY_DOMAINS) | dg.AssetSelection.groups(*NIGHTLY_LAYERS),
    partitions_def=INGEST_DATES,
    description="Land the day's files, refine silver, rebuild the fused gold tables.",
    tags={"crimefusion/job": "nightly"},
)
nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly_job, hour_of_day=2, name="nightly_ingest_schedule",
    description="02:00 UTC: nightly_ingest_and_fusion for the ingest date that just ended (land the day's files, "
                "refine silver and quarantine, rebuild the fused gold tables).")

retrain_job = dg.define_asset_job(
    "weekly_retrain", selection=tagged(RETRAIN_TAG),
    description="Rebuild features, backtest every hotspot method, train challengers (hotspot model, "
                "entity anomaly detectors); a champion moves only when its blocking check passes.",
    tags={**TRAINS_TAG, "crimefusion/job": "retrain"},
)
retrain_schedule = dg.ScheduleDefinition(
    name="weekly_retrain_schedule", job=retrain_job, cron_schedule="0 3 * * 1", execution_timezone="UTC",
    description="Monday 03:00 UTC: weekly_retrain (features, backtest, challenger models; one training run at a time).")


def daily_selection(assets: list) -> dg.AssetSelection:
    """Every asset that is unpartitioned or partitioned by ingest date.

    A job holds one partition scheme, so assets partitioned otherwise (forecast
    weeks, video files) run in their domain's own job.
    """
    other = [a for a in assets if isinstance(a, dg.AssetsDefinition) and a.partitions_def is not None
             and a.partitions_def != INGEST_DATES]
    return dg.AssetSelection.all() - dg.AssetSelection.assets(*other)


def everything_job(assets: list) -> dg.UnresolvedAssetJobDefinition:
    """``crimefusion_all``: every asset of one ingest date, from bronze to gold, with the blocking checks."""
    return dg.define_asset_job(
        "crimefusion_all",
        tags=TRAINS_TAG,
        selection=daily_selection(assets),
        description=("Materialise every asset for one ingest date: bronze -> silver -> gold, with the blocking "
                     "checks (the weekly forecast has its own job, hotspot_forecast_weekly; the per-file video "
                     "assets theirs, video_detection: `crimefusion run` runs it between the feeds and fusion)."),
    )


def build_schedules(assets: list) -> dg.Definitions:
    """The cross-domain jobs and schedules over ``assets`` (every domain's, merged)."""
    return dg.Definitions(jobs=[everything_job(assets), nightly_job, retrain_job],
                          schedules=[nightly_schedule, retrain_schedule])
