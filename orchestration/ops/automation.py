"""Automation: schedules, eager downstream updates, freshness policies, one retraining at a time.

- **Schedules**: nightly ingestion and fusion (02:00 UTC, that day's ingest
  partition), weekly retraining and backtest (Monday 03:00 UTC), hourly anomaly
  scoring (today's partition), and the weekly forecast
  (``orchestration/hotspots/schedules.py``).
- **Declarative automation**: gold assets that are full refreshes of silver
  update eagerly when their inputs change (``AutomationCondition.eager()``),
  once the automation sensor is switched on in the UI.
- **Freshness**: gold tables are expected at most 26 hours old (warn after 25).
- **Concurrency**: runs that train models carry the tag ``crimefusion/trains``;
  every instance config limits that tag to one run at a time (local:
  ``orchestration/state.py``; cluster: ``infra/dagster/dagster.yaml`` and
  ``infra/helm/values.yaml``; ``tests/infra/test_concurrency.py`` keeps them in step).
- **Kinds**: assets that run on Spark when ``CRIMEFUSION_COMPUTE_ENGINE=spark``
  show the ``spark`` kind (:func:`with_spark_kind`).
- **Retries**: steps that touch object storage, the Spark cluster or the MLflow
  server retry with exponential backoff and jitter (:func:`with_retries`).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg

TRAINS_TAG = {"crimefusion/trains": "models"}
#: What the weekly retraining rebuilds: features, backtest and the two model families (MLflow-registered).
RETRAIN_ASSETS = ("cell_features", "hotspot_backtest", "hotspot_model",
                  "phone_features", "account_features", "entity_anomaly_model")
#: Assets whose kernels run in Spark tasks when the compute engine is ``spark`` (jobs/spark/).
SPARK_ASSETS = {"events", "incident_context", "call_edges"}

# Delays are ((2**attempt) - 1) * delay, then +/- delay of jitter (Dagster's Backoff/Jitter), so
# retries of many steps that failed together (an object store restart) do not hit it in the same second.
#: Object storage (S3/MinIO) reads and Delta commits: short outages, throttling. Waits about 5, 15, 35 s.
STORAGE_RETRY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
#: Spark jobs failing as a whole (executors lost beyond Spark's own task retries, workers restarting).
#: The run keeps its Spark session, so a dead driver is not cured here: run_retries re-runs the run
#: in a new process. Waits about 30, 90 s.
SPARK_RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
#: Training + MLflow registration: minutes of work per attempt, so one retry, after about a minute.
MODEL_RETRY = dg.RetryPolicy(max_retries=1, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
#: Resources that reach another system in the cluster deployment.
EXTERNAL_RESOURCES = {"lakehouse", "mlflow", "compute"}

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


def with_spark_kind(assets: list, spark_assets: set[str] = SPARK_ASSETS) -> list:
    """Add the ``spark`` kind to the assets that run on Spark in cluster mode (Dagster shows at most 3 kinds)."""

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.key.to_user_string() not in spark_assets or "spark" in spec.kinds:
            return spec
        kinds = {*spec.kinds, "spark"}
        if len(kinds) > 3:
            raise ValueError(f"asset {spec.key.to_user_string()} would show {len(kinds)} kinds {sorted(kinds)}; "
                             f"Dagster shows at most 3: drop one in its @asset(kinds=...)")
        return spec.replace_attributes(kinds=kinds)

    return list(dg.map_asset_specs(apply, assets))


def retry_policy_for(assets_def: dg.AssetsDefinition) -> dg.RetryPolicy | None:
    """The retry policy of an asset's step: by what it touches (MLflow training, Spark, object storage)."""
    keys = {k.to_user_string() for k in assets_def.keys}
    kinds = {kind for spec in assets_def.specs for kind in spec.kinds}
    if "mlflow" in kinds:
        return MODEL_RETRY
    if keys & SPARK_ASSETS:
        return SPARK_RETRY
    if assets_def.required_resource_keys & EXTERNAL_RESOURCES:
        return STORAGE_RETRY
    return None


def with_retries(assets: list, choose=retry_policy_for) -> list:
    """Give each executable asset step without a retry policy the one ``choose`` picks for it.

    Policies set on an asset's decorator (bronze landing) are kept. Retries apply to
    exceptions raised by the step (not to failed blocking checks); every step here
    replaces or merges what it writes, so an attempt after a partial write
    converges on the same table.
    """
    out = []
    for a in assets:
        if isinstance(a, dg.AssetsDefinition) and a.is_executable and isinstance(a.node_def, dg.OpDefinition) \
                and a.node_def.retry_policy is None:
            policy = choose(a)
            if policy is not None:
                a = _with_op_retry_policy(a, policy)
        out.append(a)
    return out


def _with_op_retry_policy(assets_def: dg.AssetsDefinition, policy: dg.RetryPolicy) -> dg.AssetsDefinition:
    # Dagster has no public "replace the retry policy" for an asset, so the op is copied the way
    # OpDefinition.with_replaced_properties copies it, with the policy set; tests/orchestration/ops/
    # test_automation.py runs a retried step so a Dagster upgrade that breaks this fails there.
    from dagster._core.definitions.op_definition import OpDefinition

    op = assets_def.node_def
    new_op = OpDefinition.dagster_internal_init(
        name=op.name,
        ins={d.name: dg.In.from_definition(d) for d in op.input_defs},
        outs={d.name: dg.Out.from_definition(d) for d in op.output_defs},
        compute_fn=op.compute_fn,
        config_schema=op.config_schema,
        description=op.description,
        tags=op.tags,
        required_resource_keys=op.required_resource_keys,
        code_version=op.version,
        retry_policy=policy,
        version=None,
        pool=op.pool,
    )
    return dg.AssetsDefinition.dagster_internal_init(**{**assets_def.get_attributes_dict(), "node_def": new_op})


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

    retrain_keys = [k for k in RETRAIN_ASSETS if k in asset_keys]
    if retrain_keys:
        retrain = dg.define_asset_job(
            "weekly_retrain", selection=dg.AssetSelection.assets(*retrain_keys),
            description="Rebuild features, backtest every hotspot method, train challengers (hotspot model, "
                        "entity anomaly detectors); a champion moves only when its blocking check passes.",
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
