"""Automation applied to the Definitions: Spark kinds, retry policies, the retraining schedule."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.dependency import NodeHandle

from orchestration.definitions import build_definitions
from orchestration.ops.automation import (MODEL_RETRY, SPARK_ASSETS, SPARK_RETRY, STORAGE_RETRY, TRAINS_TAG,
                                          with_retries, with_spark_kind)
from orchestration.settings import load_settings

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@pytest.fixture(scope="module")
def defs(tmp_path_factory) -> dg.Definitions:
    return build_definitions(load_settings({"CRIMEFUSION_LAKE": str(tmp_path_factory.mktemp("lake"))}))


# -- kinds ------------------------------------------------------------------------

def test_assets_that_run_on_spark_show_the_spark_kind(defs):
    graph = defs.resolve_asset_graph()
    with_spark = {k.to_user_string() for k in graph.get_all_asset_keys() if "spark" in graph.get(k).kinds}
    assert with_spark == SPARK_ASSETS == {"events", "incident_context", "call_edges"}
    assert graph.get(dg.AssetKey("events")).kinds == {"delta", "sedona", "spark"}
    assert graph.get(dg.AssetKey("incident_context")).kinds == {"delta", "sedona", "spark"}
    assert graph.get(dg.AssetKey("call_edges")).kinds == {"delta", "python", "spark"}
    for key in graph.get_all_asset_keys():
        assert len(graph.get(key).kinds) <= 3, key  # the UI shows three


def test_a_fourth_kind_is_refused_with_the_asset_named():
    @dg.asset(kinds={"delta", "sedona", "python"})
    def crowded():
        return None

    with pytest.raises(ValueError, match="crowded.*at most 3"):
        with_spark_kind([crowded], {"crowded"})


# -- retries ----------------------------------------------------------------------

def policy_of(job: dg.JobDefinition, op_name: str) -> dg.RetryPolicy | None:
    return job.get_retry_policy_for_handle(NodeHandle(op_name, None))


@pytest.mark.parametrize("job_name", ["crimefusion_all", "__ASSET_JOB"])
def test_steps_that_touch_external_systems_retry_with_backoff_and_jitter(defs, job_name):
    job = defs.resolve_implicit_global_asset_job_def() if job_name == "__ASSET_JOB" else \
        defs.resolve_job_def(job_name)
    expected = {"hotspot_model": MODEL_RETRY, "entity_anomaly_model": MODEL_RETRY,
                "events": SPARK_RETRY, "incident_context": SPARK_RETRY, "call_edges": SPARK_RETRY,
                "refine_incidents": STORAGE_RETRY, "district_daily_counts": STORAGE_RETRY,
                "entity_anomalies": STORAGE_RETRY, "fusion_map_layers": STORAGE_RETRY}
    for op_name, policy in expected.items():
        assert policy_of(job, op_name) == policy, op_name
    asset_ops = {a.node_def.name for a in defs.assets if a.is_executable}
    steps = [node for node in job.graph.nodes if node.name in asset_ops]  # asset checks are not retried
    assert len(steps) >= 40
    for node in steps:
        policy = policy_of(job, node.name)
        assert policy is not None, f"step {node.name} has no retry policy"
        assert policy.backoff == dg.Backoff.EXPONENTIAL, node.name
        if not node.name.startswith("raw_"):  # bronze landing keeps the policy of its own decorator
            assert policy.jitter == dg.Jitter.PLUS_MINUS, node.name
    assert policy_of(job, "raw_crime_records").max_retries == 2


def test_waits_grow_exponentially_within_the_jitter():
    for attempt, base in ((1, 5), (2, 15), (3, 35)):
        waits = [STORAGE_RETRY.calculate_delay(attempt) for _ in range(200)]
        assert all(base - 5 <= w <= base + 5 for w in waits), attempt
        assert max(waits) - min(waits) > 1  # jittered, so steps failing together do not retry together


def flaky_asset(marker: Path):
    @dg.asset
    def flaky() -> None:
        # the first attempt fails as a dropped object-store connection would; the second succeeds
        if not marker.exists():
            marker.write_text("attempted")
            raise ConnectionResetError("connection reset by the object store")
        marker.write_text("done")

    return flaky


def test_a_retried_step_runs_again_and_succeeds(tmp_path):
    fast = dg.RetryPolicy(max_retries=1, delay=0, backoff=dg.Backoff.EXPONENTIAL)
    (asset,) = with_retries([flaky_asset(tmp_path / "marker")], choose=lambda _a: fast)
    result = dg.materialize([asset], run_config=QUIET)
    assert result.success
    assert (tmp_path / "marker").read_text() == "done"
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 1


def test_without_a_policy_the_same_step_fails(tmp_path):
    result = dg.materialize([flaky_asset(tmp_path / "marker")], run_config=QUIET, raise_on_error=False)
    assert not result.success
    assert (tmp_path / "marker").read_text() == "attempted"


def test_a_decorator_policy_is_kept(tmp_path):
    own = dg.RetryPolicy(max_retries=5, delay=1)

    @dg.asset(retry_policy=own)
    def landed() -> None:
        return None

    (asset,) = with_retries([landed], choose=lambda _a: STORAGE_RETRY)
    assert asset.node_def.retry_policy == own


# -- schedules ----------------------------------------------------------------------

def test_every_model_is_retrained_on_the_weekly_schedule_one_run_at_a_time(defs):
    graph = defs.resolve_asset_graph()
    models = {k.to_user_string() for k in graph.get_all_asset_keys() if "mlflow" in graph.get(k).kinds}
    assert {"hotspot_model", "entity_anomaly_model"} <= models
    schedule = next(s for s in defs.schedules if s.name == "weekly_retrain_schedule")
    job = defs.resolve_job_def(schedule.job_name)
    selected = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert models <= selected
    assert {"phone_features", "account_features", "cell_features"} <= selected  # features rebuilt before training
    assert TRAINS_TAG.items() <= dict(job.tags).items()
    assert schedule.cron_schedule == "0 3 * * 1"
