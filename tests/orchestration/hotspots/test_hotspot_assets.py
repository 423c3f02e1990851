"""The hotspot group on the bundled Chicago data: features, backtest, MLflow model, champion gate,
weekly forecast with GeoParquet/HTML/PNG, patrol plan."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from orchestration.definitions import build_definitions
from orchestration.hotspots import assets as hotspot_assets
from orchestration.hotspots import checks as hotspot_checks
from orchestration.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
DAY = "2026-11-28"
WEEK = "2018-01-01"  # the week after the bundled data ends: a true forecast


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("hotspots")
    env = {"CRIMEFUSION_LAKE": str(root / "lake"), "CRIMEFUSION_SYNTHETIC": "false",
           "CRIMEFUSION_LANDING": str(root / "landing"), "CRIMEFUSION_HOME": str(root / "home")}
    defs = build_definitions(load_settings(env))  # reports go to CRIMEFUSION_HOME through the `reports` resource
    instance = dg.DagsterInstance.ephemeral()
    assert defs.resolve_job_def("crimefusion_all").execute_in_process(
        instance=instance, run_config=QUIET, partition_key=DAY).success
    mine = dg.load_assets_from_modules([hotspot_assets])
    checks = dg.load_asset_checks_from_modules([hotspot_checks])
    unpartitioned = [a for a in mine if a.partitions_def is None]
    first = dg.materialize([*unpartitioned, *checks], resources=defs.resources, instance=instance, run_config=QUIET)
    yield defs, instance, mine, checks, first, root


def model_run(built, seed: int):
    defs, instance, mine, checks, _, _ = built
    model = [a for a in mine if a.key.to_user_string() == "hotspot_model"]
    cfg = {**QUIET, "ops": {"hotspot_model": {"config": {"seed": seed}}}}
    return dg.materialize([*model, *checks], resources=defs.resources, instance=instance, run_config=cfg,
                          raise_on_error=False)


def test_features_backtest_and_registered_champion(built):
    defs, _, _, _, result, root = built
    assert result.success
    lh = defs.resources["lakehouse"]
    feats = lh.read("gold", "cell_features", columns=["h3", "period_start", "target"])
    n_weeks = len(set(feats.column("period_start").to_pylist()))
    assert n_weeks == hotspot_assets.HotspotConfig().train_weeks
    bt = lh.read("gold", "hotspot_backtest").to_pandas()
    assert set(bt["method"]) == {"naive", "kde", "prospective", "sepp", "learned"}
    assert bt.groupby("method")["period_start"].nunique().eq(hotspot_assets.HotspotConfig().backtest_weeks).all()
    assert (root / "home" / "reports" / "hotspots" / "backtest_pai.png").stat().st_size > 10_000
    gate = {e.check_name: e for e in result.get_asset_check_evaluations()}["beats_champion"]
    assert gate.passed
    ml = defs.resources["mlflow"].setup()
    uri = defs.resources["mlflow"].tracking_uri
    from models.hotspots.serving import load_hotspot_model
    from models.registry import aliased

    champ = aliased(uri, "hotspot_lgbm", "champion")
    assert champ is not None and champ.version == "1"
    model, spec, _ = load_hotspot_model(uri, "models:/hotspot_lgbm@champion")
    assert len(spec.feature_names) == model.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    arts = {a.path for a in ml.tracking.MlflowClient().list_artifacts(champ.run_id)}
    assert {"backtest_periods.csv", "backtest_pai.png", "feature_spec.json"} <= arts


def test_gate_keeps_champion_unless_the_backtest_beats_it(built):
    defs, *_ = built
    lh = defs.resources["lakehouse"]
    ml = defs.resources["mlflow"].tracking_uri
    from models.registry import aliased

    before = aliased(ml, "hotspot_lgbm", "champion").version
    bt = lh.read("gold", "hotspot_backtest")
    honest = bt.to_pandas()
    try:
        worse = honest.copy()
        worse.loc[worse["method"] == "learned", "pai"] = 0.0
        lh.overwrite("gold", "hotspot_backtest", dg_table(worse))
        res = model_run(built, seed=1)
        gate = {e.check_name: e for e in res.get_asset_check_evaluations()}["beats_champion"]
        assert not gate.passed and not res.success
        assert aliased(ml, "hotspot_lgbm", "champion").version == before
        better = honest.copy()
        better.loc[better["method"] == "learned", "pai"] = 1e6
        lh.overwrite("gold", "hotspot_backtest", dg_table(better))
        res = model_run(built, seed=2)
        gate = {e.check_name: e for e in res.get_asset_check_evaluations()}["beats_champion"]
        assert gate.passed and gate.metadata["champion_pai_1pct"].value > 1  # champion rescored for real
        assert aliased(ml, "hotspot_lgbm", "champion").version != before
    finally:
        lh.overwrite("gold", "hotspot_backtest", bt)


def dg_table(df: pd.DataFrame):
    import pyarrow as pa

    return pa.Table.from_pandas(df, preserve_index=False)


def test_weekly_forecast_and_patrol_plan(built):
    defs, instance, mine, _, _, root = built
    weekly = [a for a in mine if a.partitions_def is not None]
    res = dg.materialize(weekly, resources=defs.resources, instance=instance, run_config=QUIET, partition_key=WEEK)
    assert res.success
    lh = defs.resources["lakehouse"]
    fc = lh.read("gold", "hotspot_forecast", filters=[("week", "=", WEEK)]).to_pandas()
    assert fc["h3"].is_unique and (fc["expected_count"] >= 0).all()
    assert sorted(fc["risk_rank"]) == list(range(1, len(fc) + 1))
    top = fc.sort_values("risk_rank")
    assert np.all(np.diff(top["expected_count"].to_numpy()) <= 1e-12)
    assert np.isclose(top["expected_share"].iloc[-1], 1.0)
    assert 0 < fc["in_top_cells"].sum() <= 0.011 * len(fc) + 1

    out = root / "home" / "reports" / "hotspots"
    import geopandas as gpd

    gdf = gpd.read_parquet(out / f"forecast_{WEEK}.parquet")
    assert gdf.crs.to_epsg() == 4326 and len(gdf) == len(fc)
    page = (out / f"forecast_{WEEK}.html").read_text()
    assert "<svg" in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert (out / f"forecast_{WEEK}.png").stat().st_size > 10_000

    plan = lh.read("gold", "patrol_plan", filters=[("week", "=", WEEK)]).to_pandas()
    cap = hotspot_assets.HotspotConfig().patrol_cells_per_shift
    assert plan["shift_label"].nunique() == 21 and len(plan) == 21 * cap
    assert set(plan["h3"]) <= set(fc["h3"])
    assert (out / f"patrol_{WEEK}.html").read_text().count('class="patrol"') == 21
