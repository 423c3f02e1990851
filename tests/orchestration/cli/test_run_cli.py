"""``crimefusion run`` records runs of the ``crimefusion`` code location, which the Dagster UI lists under their job.

The command runs as a user runs it (Typer app, persistent Dagster instance in
the state folder, progress and summary) on a tiny job named ``crimefusion_all``
(one daily asset and its check, put in place of the project's definitions), so
the test takes seconds; ``tests/ui/test_cli_runs.py`` opens the same kind of run
in the real UI.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[3]
DATE = "2026-11-28"
DAILY = dg.DailyPartitionsDefinition(start_date="2026-11-01")


def tiny_definitions(fail: bool = False):
    """What ``build_definitions`` returns, cut down to one daily asset with a check in ``crimefusion_all``."""

    @dg.asset(partitions_def=DAILY)
    def tiny(context) -> dg.MaterializeResult:
        if fail:
            raise ValueError("tiny: the source is broken")
        return dg.MaterializeResult(metadata={"partition": context.partition_key})

    @dg.asset_check(asset=tiny)
    def tiny_is_fine() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    return dg.Definitions(assets=[tiny], asset_checks=[tiny_is_fine],
                          jobs=[dg.define_asset_job("crimefusion_all", partitions_def=DAILY)],
                          executor=dg.in_process_executor)


def run_cli(tmp_path: Path, monkeypatch, *, fail: bool = False):
    """``crimefusion run --date DATE`` on ``tiny_definitions``; returns the CLI result and the Dagster home."""
    from orchestration.cli import app

    for var, value in {"CRIMEFUSION_HOME": tmp_path / "home", "CRIMEFUSION_LAKE": tmp_path / "lake",
                       "CRIMEFUSION_LANDING": tmp_path / "landing", "CRIMEFUSION_SYNTHETIC": "false",
                       "DAGSTER_HOME": tmp_path / "unused"}.items():
        monkeypatch.setenv(var, str(value))  # the command points DAGSTER_HOME at the state folder; undone after
    monkeypatch.setattr("orchestration.definitions.build_definitions", lambda settings=None: tiny_definitions(fail))
    result = CliRunner().invoke(app, ["run", "--date", DATE])
    return result, tmp_path / "home" / "dagster"


def runs_of(home: Path, **filters) -> list:
    with _instance(home) as instance:
        return list(instance.get_runs(filters=dg.RunsFilter(**filters)))


class _instance:
    """The persistent instance in ``home`` (what the UI reads), closed after use."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __enter__(self):
        self.instance = dg.DagsterInstance.from_config(str(self.home))
        return self.instance

    def __exit__(self, *exc) -> None:
        self.instance.dispose()


@pytest.mark.parametrize("fail, exit_code, status", [(False, 0, dg.DagsterRunStatus.SUCCESS),
                                                     (True, 1, dg.DagsterRunStatus.FAILURE)])
def test_runs_belong_to_the_code_location_the_ui_loads(tmp_path, monkeypatch, fail, exit_code, status):
    from orchestration.platform.launch import CODE_LOCATION, DEFINITIONS_MODULE

    result, home = run_cli(tmp_path, monkeypatch, fail=fail)
    assert result.exit_code == exit_code, result.output[-3000:]
    assert ("succeeded" in result.output) != fail and ("failed tiny" in result.output) == fail

    runs = runs_of(home, job_name="crimefusion_all")
    assert len(runs) == 1
    run = runs[0]
    assert f"Run {run.run_id}" in result.output.replace("\n", " ")
    assert run.status == status and run.tags["dagster/partition"] == DATE
    origin = run.remote_job_origin
    assert origin is not None, "the run has no repository origin: the UI shows it without its job"
    assert (origin.location_name, origin.repository_origin.repository_name, origin.job_name) == \
        (CODE_LOCATION, "__repository__", "crimefusion_all")
    assert run.job_code_origin.repository_origin.code_pointer.module == DEFINITIONS_MODULE
    # the filter of the UI's job page (Jobs > crimefusion_all): job name and the repository label of the origin
    label = {".dagster/repository": f"__repository__@{CODE_LOCATION}"}
    assert [r.run_id for r in runs_of(home, job_name="crimefusion_all", tags=label)] == [run.run_id]
    if not fail:
        with _instance(home) as instance:
            checks = [e for e in instance.all_logs(run.run_id) if e.dagster_event
                      and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]
            assert len(checks) == 1 and instance.get_latest_materialization_event(dg.AssetKey("tiny"))


def test_every_way_of_loading_the_definitions_names_the_same_code_location():
    """pyproject's [tool.dagster] (bare ``dagster dev``), ``make ui`` and the deployed workspace agree."""
    from orchestration.platform.launch import CODE_LOCATION, DEFINITIONS_MODULE, workspace_args

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dagster"]
    assert (pyproject["module_name"], pyproject["code_location_name"]) == (DEFINITIONS_MODULE, CODE_LOCATION)
    deployed = yaml.safe_load((ROOT / "infra" / "dagster" / "workspace.yaml").read_text())
    assert [loc["grpc_server"]["location_name"] for loc in deployed["load_from"]] == [CODE_LOCATION]
    assert workspace_args() == ["-w", str(ROOT / "workspace.yaml")]
    local = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert local["load_from"] == [{"python_module": {"module_name": DEFINITIONS_MODULE, "location_name": CODE_LOCATION}}]
    assert "workspace_args()" in (ROOT / "orchestration" / "ui.py").read_text()


def test_the_forecast_week_follows_the_last_incident_in_local_time(tmp_path):
    """The demo's forecast partition is the Monday after the forecast source's last incident, read on the
    study area's clock: 23:30 on Sunday 31 December in Chicago is Monday in UTC, and the week to forecast
    is the one starting Monday 1 January, not 8 January."""
    import pandas as pd
    import pyarrow as pa
    from deltalake import write_deltalake

    from orchestration.cli.run import _forecast_week
    from orchestration.definitions import build_definitions
    from orchestration.hotspots.inputs import forecast_source
    from orchestration.settings import load_settings

    defs = build_definitions(load_settings({"CRIMEFUSION_LAKE": str(tmp_path / "lake"),
                                            "CRIMEFUSION_HOME": str(tmp_path / "home"),
                                            "CRIMEFUSION_SYNTHETIC": "false"}))
    lake = defs.resources["lakehouse"]
    assert _forecast_week(defs, lake) is None  # no incidents yet
    spec = forecast_source(defs.resources["sources"], "")
    last = pd.Timestamp("2017-12-31 23:30", tz=spec.local_timezone)
    times = [last - pd.Timedelta(days=3), last]
    write_deltalake(str(tmp_path / "lake" / "silver" / "incidents"), pa.table({
        "source": [spec.name, spec.name, "another_source"],
        "occurred_at": pa.array([*times, last + pd.Timedelta(days=30)], pa.timestamp("us", tz="UTC"))}))
    expected = (last.date() + pd.Timedelta(days=7 - last.weekday())).isoformat()
    assert _forecast_week(defs, lake) == expected
    if spec.local_timezone == "America/Chicago":
        assert expected == "2018-01-01"


def test_the_summary_lists_the_newest_report_of_each_kind(tmp_path):
    import os

    from orchestration.cli.run import newest_of_each_kind

    names = ["forecast_2018-01-01.html", "forecast_2018-01-08.html", "model_card_x_v2.html", "model_card_x_v10.html",
             "whatif_2018-01-08.html"]
    for k, name in enumerate(names):
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (1_000_000 + k, 1_000_000 + k))
    assert [p.name for p in newest_of_each_kind(tmp_path.glob("*.html"))] == [
        "forecast_2018-01-08.html", "model_card_x_v10.html", "whatif_2018-01-08.html"]
