"""Automation applied to the Definitions: Spark kinds, retry policies, the retraining schedule."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from orchestration.definitions import build_definitions
from orchestration.platform.automation import TRAINS_TAG
from orchestration.platform.retries import MODEL_RETRY, SPARK_RETRY, STORAGE_RETRY, retry_policy_for
from orchestration.settings import load_settings

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@pytest.fixture(scope="module")
def defs(tmp_path_factory) -> dg.Definitions:
    return build_definitions(load_settings({"CRIMEFUSION_LAKE": str(tmp_path_factory.mktemp("lake"))}))


# -- kinds ------------------------------------------------------------------------

def test_assets_that_run_on_spark_show_the_spark_kind(defs):
    graph = defs.resolve_asset_graph()
    with_spark = {k.to_user_string() for k in graph.get_all_asset_keys() if "spark" in graph.get(k).kinds}
    assert with_spark == {"events", "incident_context", "call_edges"}
    assert graph.get(dg.AssetKey("events")).kinds == {"delta", "sedona", "spark"}
    assert graph.get(dg.AssetKey("incident_context")).kinds == {"delta", "sedona", "spark"}
    assert graph.get(dg.AssetKey("call_edges")).kinds == {"delta", "python", "spark"}
    for key in graph.get_all_asset_keys():
        assert len(graph.get(key).kinds) <= 3, key  # the UI shows three


# -- retries ----------------------------------------------------------------------

def policy_of(job: dg.JobDefinition, op_name: str) -> dg.RetryPolicy | None:
    """The policy a step runs with: its op's own (an asset's ``retry_policy=``), else the job's ``op_retry_policy``."""
    return job.graph.node_named(op_name).definition.retry_policy or job.op_retry_policy


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
    assert policy_of(job, "raw_incidents").max_retries == 2


def test_waits_grow_exponentially_within_the_jitter():
    for attempt, base in ((1, 5), (2, 15), (3, 35)):
        waits = [STORAGE_RETRY.calculate_delay(attempt) for _ in range(200)]
        assert all(base - 5 <= w <= base + 5 for w in waits), attempt
        assert max(waits) - min(waits) > 1  # jittered, so steps failing together do not retry together


def flaky_asset(marker: Path, policy: dg.RetryPolicy | None = None):
    @dg.asset(retry_policy=policy)
    def flaky() -> None:
        # the first attempt fails as a dropped object-store connection would; the second succeeds
        if not marker.exists():
            marker.write_text("attempted")
            raise ConnectionResetError("connection reset by the object store")
        marker.write_text("done")

    return flaky


def test_a_retried_step_runs_again_and_succeeds(tmp_path):
    fast = dg.RetryPolicy(max_retries=1, delay=0, backoff=dg.Backoff.EXPONENTIAL)
    result = dg.materialize([flaky_asset(tmp_path / "marker", fast)], run_config=QUIET)
    assert result.success
    assert (tmp_path / "marker").read_text() == "done"
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 1


def test_without_a_policy_the_same_step_fails(tmp_path):
    result = dg.materialize([flaky_asset(tmp_path / "marker")], run_config=QUIET, raise_on_error=False)
    assert not result.success
    assert (tmp_path / "marker").read_text() == "attempted"


def test_every_asset_declares_the_policy_of_the_rule(defs):
    """Each asset's decorator names the policy ``retry_policy_for`` gives it (bronze landing keeps its own)."""
    for a in defs.assets:
        if not a.is_executable or a.node_def.name.startswith("raw_"):
            continue
        assert a.node_def.retry_policy is not None, a.node_def.name
        assert a.node_def.retry_policy == retry_policy_for(a), a.node_def.name


# -- cross-domain selections ------------------------------------------------------

def test_cell_features_reads_events_only_where_fusion_loads_and_runs_after_it(defs, tmp_path):
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey("events") in graph.get(dg.AssetKey("cell_features")).parent_keys
    # a real input of the op, so one run of the job orders events first (not only an edge in the UI)
    job = defs.resolve_job_def("crimefusion_all")
    wired = {str(out.node_name) for outs in job.dependency_structure.input_to_upstream_outputs_for_node(
        "cell_features").values() for out in outs}
    assert "events" in wired, wired
    crimes_only = build_definitions(load_settings({"CRIMEFUSION_LAKE": str(tmp_path), "CRIMEFUSION_SYNTHETIC": "false"}))
    alone = crimes_only.resolve_asset_graph()
    assert dg.AssetKey("events") not in alone.get(dg.AssetKey("cell_features")).parent_keys
    assert not alone.has(dg.AssetKey("events"))


def test_crimefusion_all_holds_every_asset_of_the_ingest_date_scheme(defs):
    from orchestration.ingest.partitions import INGEST_DATES

    graph = defs.resolve_asset_graph()
    selected = set(defs.resolve_job_def("crimefusion_all").asset_layer.executable_asset_keys)
    for key in graph.executable_asset_keys:
        ours = graph.get(key).partitions_def in (None, INGEST_DATES)
        assert (key in selected) == ours, key
    assert not {"hotspot_forecast", "patrol_plan", "detections"} & {k.to_user_string() for k in selected}


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
