"""Retry policies of asset steps: each asset names its policy in its decorator (``retry_policy=``).

Steps that touch object storage, the Spark cluster or the MLflow server retry
with exponential backoff and jitter. The rule (:func:`retry_policy_for`) is:
training and MLflow registration (the ``mlflow`` kind) get :data:`MODEL_RETRY`;
steps that run in Spark tasks (the ``spark`` kind) :data:`SPARK_RETRY`; every
other step that reaches the lakehouse, MLflow or Spark :data:`STORAGE_RETRY`.
Bronze landing keeps its own policy (``orchestration/ingest/assets.py``).
``tests/orchestration/platform/test_automation.py`` checks every asset against
the rule, on every job and on the UI's ad-hoc materialisations.

Retries apply to exceptions raised by the step (not to failed blocking
checks); every step replaces or merges what it writes, so an attempt after a
partial write converges on the same table.
"""

from __future__ import annotations

import dagster as dg

__all__ = ["EXTERNAL_RESOURCES", "MODEL_RETRY", "SPARK_RETRY", "STORAGE_RETRY", "retry_policy_for"]

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


def retry_policy_for(assets_def: dg.AssetsDefinition) -> dg.RetryPolicy | None:
    """The policy an asset's step should declare: by what it touches (MLflow training, Spark, storage)."""
    kinds = {kind for spec in assets_def.specs for kind in spec.kinds}
    if "mlflow" in kinds:
        return MODEL_RETRY
    if "spark" in kinds:
        return SPARK_RETRY
    if assets_def.required_resource_keys & EXTERNAL_RESOURCES:
        return STORAGE_RETRY
    return None
