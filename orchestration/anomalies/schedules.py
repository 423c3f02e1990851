"""Hourly anomaly scoring: today's count series for spikes, and the entity scores re-served."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg

from orchestration.anomalies.assets import anomaly_report, entity_anomalies, spike_alerts
from orchestration.anomalies.partitions import SCORING_DAYS

hourly_anomaly_job = dg.define_asset_job(
    "hourly_anomaly_scoring", selection=dg.AssetSelection.assets(spike_alerts, entity_anomalies, anomaly_report),
    partitions_def=SCORING_DAYS, tags={"crimefusion/job": "anomalies"},
    description="Score today's count series for spikes and re-serve the entity anomaly scores.",
)


@dg.schedule(name="hourly_anomaly_schedule", job=hourly_anomaly_job, cron_schedule="5 * * * *",
             execution_timezone="UTC",
             description="Every hour at :05 UTC: hourly_anomaly_scoring for today's scoring day (UTC), one run per "
                         "hour (run key anomalies-<date>T<hour>); critical_spike_sensor announces what it finds.")
def hourly_anomaly_schedule(context: dg.ScheduleEvaluationContext):
    now = context.scheduled_execution_time or datetime.now(timezone.utc)
    day = now.date().isoformat()
    return dg.RunRequest(run_key=f"anomalies-{now:%Y-%m-%dT%H}", partition_key=day)


JOBS = [hourly_anomaly_job]
SCHEDULES = [hourly_anomaly_schedule]
