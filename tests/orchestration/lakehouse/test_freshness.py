"""skip_unchanged: an asset whose inputs did not move does no work; anything that moved makes it recompute."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from orchestration.lakehouse import freshness
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.resources.lakehouse import Lakehouse, LocalLakehouse

CALLS: list[str] = []


class DoubleConfig(dg.Config):
    factor: int = 2
    report: str = ""


@dg.asset(key="doubled")
@skip_unchanged()
def doubled(context: dg.AssetExecutionContext, config: DoubleConfig, lakehouse: Lakehouse) -> dg.MaterializeResult:
    CALLS.append("doubled")
    rows = lakehouse.read("silver", "numbers")
    out = pa.table({"x": pa.array([v * config.factor for v in rows["x"].to_pylist()], pa.int64())})
    result = lakehouse.overwrite("gold", "doubled", out)
    meta = {"total": dg.MetadataValue.int(sum(out["x"].to_pylist())), "table_uri": dg.MetadataValue.path(result.uri)}
    if config.report:
        Path(config.report).write_text("report\n")
        meta["report"] = dg.MetadataValue.path(config.report)
    return dg.MaterializeResult(metadata=meta)


@dg.multi_asset(specs=[dg.AssetSpec("left"), dg.AssetSpec("right")], name="split")
@skip_unchanged()
def split(context: dg.AssetExecutionContext, lakehouse: Lakehouse):
    CALLS.append("split")
    rows = lakehouse.read("silver", "numbers")
    lakehouse.overwrite("gold", "left", rows.slice(0, 1))
    lakehouse.overwrite("gold", "right", rows.slice(1))
    yield dg.MaterializeResult(asset_key="left", metadata={"n": 1})
    yield dg.MaterializeResult(asset_key="right", metadata={"n": rows.num_rows - 1})


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CRIMEFUSION_HOME", str(tmp_path / "home"))
    CALLS.clear()
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    lake.append("silver", "numbers", pa.table({"x": pa.array([1, 2, 3], pa.int64())}))
    return lake, dg.DagsterInstance.ephemeral()


def _run(lake, instance, asset=doubled, **config):
    run_config = {"ops": {"doubled": {"config": config}}} if config else None
    result = dg.materialize([asset], resources={"lakehouse": lake}, instance=instance, run_config=run_config)
    assert result.success
    return {e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
            for e in result.get_asset_materialization_events()}


def test_unchanged_inputs_skip_and_report_the_previous_metadata(env):
    lake, instance = env
    first = _run(lake, instance)["doubled"]
    version = lake.version("gold", "doubled")
    second = _run(lake, instance)["doubled"]
    assert CALLS == ["doubled"]
    assert lake.version("gold", "doubled") == version
    assert second["total"] == first["total"] == dg.MetadataValue.int(12)
    assert "skipped" in second and "skipped" not in first


@pytest.mark.parametrize("change", ["input", "config", "output", "forget"])
def test_any_moved_part_recomputes(env, change):
    lake, instance = env
    _run(lake, instance)
    config = {}
    if change == "input":
        lake.append("silver", "numbers", pa.table({"x": pa.array([4], pa.int64())}))
    elif change == "config":
        config = {"factor": 3}
    elif change == "output":  # someone rebuilt or replaced the output
        lake.overwrite("gold", "doubled", pa.table({"x": pa.array([0], pa.int64())}))
    else:
        freshness.forget(lake, ["doubled"])
    meta = _run(lake, instance, **config)["doubled"]
    assert CALLS == ["doubled", "doubled"]
    assert "skipped" not in meta
    expected = {"input": 20, "config": 18, "output": 12, "forget": 12}[change]
    assert meta["total"] == dg.MetadataValue.int(expected)
    assert sorted(lake.read("gold", "doubled")["x"].to_pylist()) == [
        v * (3 if change == "config" else 2) for v in [1, 2, 3] + ([4] if change == "input" else [])]


def test_a_reported_file_that_is_gone_recomputes(env, tmp_path):
    lake, instance = env
    report = tmp_path / "report.txt"
    _run(lake, instance, report=str(report))
    _run(lake, instance, report=str(report))
    assert CALLS == ["doubled"]
    report.unlink()
    _run(lake, instance, report=str(report))
    assert CALLS == ["doubled", "doubled"] and report.exists()


def test_a_lost_dagster_history_recomputes(env):
    lake, _ = env
    _run(lake, dg.DagsterInstance.ephemeral())
    _run(lake, dg.DagsterInstance.ephemeral())  # no previous metadata to re-report: the work is done again
    assert CALLS == ["doubled", "doubled"]


def test_multi_asset_skips_every_output(env):
    lake, instance = env
    _run(lake, instance, asset=split)
    metas = _run(lake, instance, asset=split)
    assert CALLS == ["split"]
    assert set(metas) == {"left", "right"} and all("skipped" in m for m in metas.values())
    assert metas["right"]["n"] == dg.MetadataValue.int(2)


def test_moved_names_what_changed():
    before = {"code": "a", "table silver/x": ["id", 3], "table gold/y": ["id2", 1], "table gold/z": [None, None]}
    now = {"code": "b", "table silver/x": ["id", 4], "table gold/y": ["id3", 0], "table gold/z": ["id4", 0]}
    assert freshness.moved(before, now) == ["code", "gold/y re-created", "gold/z appeared", "silver/x v3 -> v4"]


def test_control_tables_are_not_traced(env):
    lake, instance = env
    _run(lake, instance)
    lake.append("control", "watermarks_test", pa.table({"x": [1]}))  # bookkeeping moves; inputs did not
    _run(lake, instance)
    assert CALLS == ["doubled"]


DAYS = dg.StaticPartitionsDefinition(["2026-01-01", "2026-01-02"])


@dg.asset(key="daily_numbers", partitions_def=DAYS)
def daily_numbers(context) -> None:
    CALLS.append(f"daily {context.partition_key}")


def test_an_unpartitioned_asset_in_a_partitioned_run_skips_on_another_day(env):
    """The nightly job is partitioned by ingest date; an unpartitioned asset in it must not key on that date."""
    lake, instance = env
    for day in DAYS.get_partition_keys():
        result = dg.materialize([daily_numbers, doubled], resources={"lakehouse": lake}, instance=instance,
                                partition_key=day)
        assert result.success
    assert CALLS == ["daily 2026-01-01", "doubled", "daily 2026-01-02"]


def _positive(context, resources) -> list[dg.AssetCheckResult]:
    rows = resources["lakehouse"].read("silver", "numbers")
    return [dg.AssetCheckResult(check_name="positive", passed=min(rows["x"].to_pylist()) > 0)]


@dg.asset(key="checked", check_specs=[dg.AssetCheckSpec("positive", asset="checked")])
@skip_unchanged(checks=_positive)
def checked(context: dg.AssetExecutionContext, lakehouse: Lakehouse) -> dg.MaterializeResult:
    CALLS.append("checked")
    lakehouse.overwrite("gold", "checked", lakehouse.read("silver", "numbers"))
    return dg.MaterializeResult(metadata={"n": 3}, check_results=_positive(context, {"lakehouse": lakehouse}))


def test_a_skipped_asset_still_reports_its_own_checks(env):
    lake, instance = env
    for _ in range(2):
        result = dg.materialize([checked], resources={"lakehouse": lake}, instance=instance)
        assert result.success
        (evaluation,) = result.get_asset_check_evaluations()
        assert evaluation.passed
    assert CALLS == ["checked"]


def test_commits_that_change_no_row_do_not_recompute(env):
    lake, instance = env
    _run(lake, instance)
    lake.set_table_properties("silver", "numbers", {"delta.enableChangeDataFeed": "true"})  # a follower turns CDF on
    _run(lake, instance)
    assert CALLS == ["doubled"]
