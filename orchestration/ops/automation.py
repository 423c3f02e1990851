"""Automation: schedules, eager downstream updates, freshness policies, one retraining at a time.

- **Schedules**: nightly ingestion and fusion (02:00 UTC, that day's ingest
  partition), weekly retraining and backtest (Monday 03:00 UTC), hourly anomaly
  scoring (today's partition), and the weekly forecast
  (``orchestration/hotspots/schedules.py``).
- **Declarative automation**: gold assets that are full refreshes of silver
  update eagerly when their inputs change (``AutomationCondition.eager()``),
  once the automation sensor is switched on in the UI.
- **Freshness**: gold tables are expected at most 26 hours old (warn after 25).
- **Concurrency**: retraining runs carry the tag ``crimefusion/trains=hotspot``;
  ``dagster.yaml`` limits that tag to one run at a time (``orchestration/state.py``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg

TRAINS_TAG = {"crimefusion/trains": "hotspot"}

#: Groups whose unpartitioned assets are full refreshes of their inputs.
EAGER_GROUPS = {"gold", "patterns", "links", "fusion", "anomalies"}
#: Assets that train or score models: run on schedule, not on every upstream change.
NOT_EAGER = {"hotspot_model", "hotspot_backtest", "cell_features", "entity_anomaly_model", "crime_series"}


def with_automation(assets: list) -> list:
    """Add eager automation and freshness policies to the gold, unpartitioned assets."""

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.partitions_def is not None or spec.group_name not in EAGER_GROUPS:
            return spec
        update = {"freshness_policy": dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26),
                                                                    warn_window=timedelta(hours=25))}
        if spec.key.to_user_string() not in NOT_EAGER:
            update["automation_condition"] = dg.AutomationCondition.eager()
        return spec.replace_attributes(**update)

    return list(dg.map_asset_specs(apply, assets))


def build_jobs_and_schedules(asset_keys: set[str], ingest_partitions) -> tuple[list, list]:
    jobs, schedules = [], []
    ingest_groups = dg.AssetSelection.groups("bronze", "silver", "quarantine", "reference", "synthetic", "fusion")
    nightly = dg.define_asset_job(
        "nightly_ingest_and_fusion", selection=ingest_groups, partitions_def=ingest_partitions,
        description="Land the day's files, refine silver, rebuild the fused gold tables.",
        tags={"crimefusion/job": "nightly"},
    )
    jobs.append(nightly)
    schedules.append(dg.build_schedule_from_partitioned_job(nightly, hour_of_day=2, name="nightly_ingest_schedule"))

    retrain_keys = [k for k in ("cell_features", "hotspot_backtest", "hotspot_model") if k in asset_keys]
    if retrain_keys:
        retrain = dg.define_asset_job(
            "weekly_retrain", selection=dg.AssetSelection.assets(*retrain_keys),
            description="Rebuild features, backtest every method, train a challenger; the champion moves only "
                        "when it wins (blocking check beats_champion).",
            tags={**TRAINS_TAG, "crimefusion/job": "retrain"},
        )
        jobs.append(retrain)
        schedules.append(dg.ScheduleDefinition(name="weekly_retrain_schedule", job=retrain, cron_schedule="0 3 * * 1",
                                               execution_timezone="UTC"))

    anomaly_keys = [k for k in ("spike_alerts", "entity_anomalies", "anomaly_report") if k in asset_keys]
    if anomaly_keys:
        anomalies = dg.define_asset_job(
            "hourly_anomaly_scoring", selection=dg.AssetSelection.assets(*anomaly_keys),
            partitions_def=ingest_partitions, tags={"crimefusion/job": "anomalies"},
            description="Score today's count series for spikes and re-serve the entity anomaly scores.",
        )
        jobs.append(anomalies)

        @dg.schedule(name="hourly_anomaly_schedule", job=anomalies, cron_schedule="5 * * * *",
                     execution_timezone="UTC")
        def hourly_anomaly_schedule(context: dg.ScheduleEvaluationContext):
            now = context.scheduled_execution_time or datetime.now(timezone.utc)
            day = now.date().isoformat()
            return dg.RunRequest(run_key=f"anomalies-{now:%Y-%m-%dT%H}", partition_key=day)

        schedules.append(hourly_anomaly_schedule)
    return jobs, schedules
