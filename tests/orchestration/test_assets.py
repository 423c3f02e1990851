"""The whole asset graph on the bundled Chicago data, in a temporary lakehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from orchestration.definitions import build_definitions
from orchestration.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
DAY = "2026-11-28"
SPEC = str(Path(__file__).resolve().parents[2] / "specs" / "chicago_aggravated_assaults.yaml")
FOUNDATION = dg.AssetSelection.groups("bronze", "silver", "quarantine", "reference") | \
    dg.AssetSelection.assets("district_daily_counts")


def foundation_job(defs: dg.Definitions):
    """The bronze -> silver -> gold slice with its checks, as its own job on the same assets."""
    job = dg.define_asset_job("foundation", selection=FOUNDATION)
    scoped = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=[job],
                            resources=defs.resources, executor=dg.in_process_executor)
    return scoped.resolve_job_def("foundation")


@pytest.fixture(scope="module")
def materialised(tmp_path_factory):
    lake = tmp_path_factory.mktemp("lake")
    defs = build_definitions(load_settings({"CRIMEFUSION_LAKE": str(lake), "CRIMEFUSION_SYNTHETIC": "false",
                                            "CRIMEFUSION_LANDING": str(lake / "landing"), "CRIMEFUSION_SPECS": SPEC}))
    instance = dg.DagsterInstance.ephemeral()
    first = foundation_job(defs).execute_in_process(instance=instance, run_config=QUIET, partition_key=DAY)
    return defs, instance, first


def counts(lh):
    return {
        "bronze": lh.count("bronze", "raw_chicago_aggravated_assaults"),
        "silver": lh.count("silver", "incidents"),
        "rejects": lh.count("quarantine", "incidents_rejects"),
        "gold": lh.count("gold", "district_daily_counts"),
        "districts": lh.count("reference", "police_districts"),
    }


def test_bronze_to_gold(materialised):
    defs, _, result = materialised
    assert result.success
    lh = defs.resources["lakehouse"]
    c = counts(lh)
    assert c["bronze"] == 117_875 == c["silver"] + c["rejects"]
    assert c["districts"] == 23
    incidents = lh.read("silver", "incidents", columns=["district", "h3", "occurred_at"])
    assert incidents["district"].null_count == 0
    assert incidents["h3"].null_count == 0
    gold = lh.read("gold", "district_daily_counts", columns=["incidents"])
    assert sum(gold["incidents"].to_pylist()) == c["silver"]

    mats = {e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
            for e in result.get_asset_materialization_events()}
    assert mats["incidents"]["delta_version"].value == lh.version("silver", "incidents")
    assert mats["incidents"]["dagster/row_count"].value == c["silver"]
    assert "incident_id" in mats["incidents"]["preview"].value
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_rematerialising_never_duplicates(materialised):
    defs, instance, _ = materialised
    lh = defs.resources["lakehouse"]
    before = counts(lh)
    version = lh.version("silver", "incidents")
    assert foundation_job(defs).execute_in_process(instance=instance, run_config=QUIET, partition_key=DAY).success
    assert counts(lh) == before
    assert lh.version("silver", "incidents") == version  # every receipt is refined already: no commit at all


def test_failing_blocking_check_stops_downstream(materialised):
    defs, instance, _ = materialised
    lh = defs.resources["lakehouse"]
    silver = lh.read("silver", "incidents")
    bad = silver.slice(0, 1).to_pylist()[0]
    bad.update(incident_id="tampered:1", occurred_at=dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc))
    lh.merge("silver", "incidents", pa.Table.from_pylist([bad], schema=silver.schema), ["incident_id"])
    gold_version = lh.version("gold", "district_daily_counts")

    selection = dg.AssetSelection.checks_for_assets("incidents") | dg.AssetSelection.assets("district_daily_counts")
    job = dg.define_asset_job("checks_then_gold", selection=selection)
    scoped = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=[job],
                            resources=defs.resources, executor=dg.in_process_executor)
    result = scoped.resolve_job_def("checks_then_gold").execute_in_process(instance=instance, raise_on_error=False,
                                                                             run_config=QUIET)
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["incidents_quality"].passed
    assert "2099" in evaluations["incidents_quality"].metadata["report"].value or \
        "occurred_at" in evaluations["incidents_quality"].metadata["report"].value
    assert lh.version("gold", "district_daily_counts") == gold_version  # downstream did not run
    lh.delete("silver", "incidents", "incident_id = 'tampered:1'")
