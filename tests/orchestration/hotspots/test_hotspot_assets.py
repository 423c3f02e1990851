"""The hotspot group on the bundled Chicago data: features, backtest, MLflow model, champion gate,
weekly forecast with GeoParquet/HTML/PNG, patrol plan."""

from __future__ import annotations

import re

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from orchestration.definitions import build_definitions
from orchestration.hotspots import assets as hotspot_assets
from orchestration.hotspots import checks as hotspot_checks
from orchestration.hotspots.inputs import HotspotConfig
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


def model_run(built, seed: int, check_only: bool = False, **config):
    """hotspot_model with ``seed`` (and other config) then its gate; or the gate alone."""
    defs, instance, mine, checks, _, _ = built
    model = [a for a in mine if a.key.to_user_string() == "hotspot_model"]
    if check_only:  # the gate reads the config of hotspot_model's latest materialisation
        return dg.materialize([*model, *checks], resources=defs.resources, instance=instance, run_config=QUIET,
                              raise_on_error=False, selection=dg.AssetSelection.checks(*checks))
    cfg = {**QUIET, "ops": {"hotspot_model": {"config": {"seed": seed, **config}}}}
    return dg.materialize([*model, *checks], resources=defs.resources, instance=instance, run_config=cfg,
                          raise_on_error=False)


def gate_of(result) -> dg.AssetCheckEvaluation:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}["beats_champion"]


def test_features_backtest_and_registered_champion(built):
    defs, _, _, _, result, root = built
    assert result.success
    lh = defs.resources["lakehouse"]
    feats = lh.read("gold", "cell_features", columns=["h3", "period_start", "target"])
    n_weeks = len(set(feats.column("period_start").to_pylist()))
    assert n_weeks == HotspotConfig().train_weeks
    bt = lh.read("gold", "hotspot_backtest").to_pandas()
    assert set(bt["method"]) == {"naive", "kde", "prospective", "sepp", "learned"}
    assert bt.groupby("method")["period_start"].nunique().eq(HotspotConfig().backtest_weeks).all()
    assert (root / "home" / "reports" / "hotspots" / "backtest_pai.png").stat().st_size > 10_000
    ml = defs.resources["mlflow"].setup()
    uri = defs.resources["mlflow"].tracking_uri
    from models.hotspots.serving import load_hotspot_model
    from models.registry import aliased, method_of, version_tags

    # The main job's gate chose the champion: the learned model (v1) or a registered baseline (v2), never a model
    # that lost to a baseline on the gate's weeks. The retrained model of this second materialisation either
    # took over or left that champion serving (a WARN that does not block the run).
    champ = aliased(uri, "hotspot_lgbm", "champion")
    method = method_of(uri, champ)
    gate = gate_of(result)
    meta = {k: v.value for k, v in gate.metadata.items()}
    if gate.passed:
        assert champ.version == meta["champion_version_now"] and method == meta["serving"]
        assert version_tags(uri, champ)["won_by"] == meta["won_by"]
    else:
        assert gate.severity == dg.AssetCheckSeverity.WARN and meta["decision"].endswith("champion kept")
        assert meta["serving"] == f"champion ({method})" and champ.version in ("1", "2")
    tags = version_tags(uri, champ)
    assert tags["method"] == method and tags["won_by"].startswith("PAI@1% ") and tags["gate_decision"]
    if method != "learned":  # a baseline serves because the learned model did not beat it by its standard error
        assert "did not beat the best baseline" in tags["gate_decision"] or "beat the champion" in tags["gate_decision"]
    learned = aliased(uri, "hotspot_lgbm", "challenger")
    assert method_of(uri, learned) == "learned"  # the learned model, registered either way
    from models.registry import run_params

    logged = run_params(uri, learned)  # the run records the Delta versions it trained from
    assert int(logged["cell_features_version"]) <= lh.version("gold", "cell_features")
    assert logged["source"] == "chicago_aggravated_assaults"  # the first incident spec with a study area
    model, spec, _ = load_hotspot_model(uri, "models:/hotspot_lgbm@challenger")
    assert len(spec.feature_names) == model.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    # the parameters gold cell_features stored with its rows are the ones the model is served with
    from jobs.grid.params import COMMIT_KEY, CellFeatureParams

    stored = CellFeatureParams.from_json(lh.written_with("gold", "cell_features", COMMIT_KEY))
    assert spec.feature_params == stored and stored.kernel_bandwidth_m is not None and stored.freq == "W"
    arts = {a.path for a in ml.tracking.MlflowClient().list_artifacts(learned.run_id)}
    assert {"backtest_periods.csv", "backtest_pai.png", "feature_spec.json", "feature_importance.png",
            "feature_importance.csv", "native", "model_card.md", "model_card.html"} <= arts
    card = (root / "home" / "reports" / "hotspots" / f"model_card_hotspot_lgbm_v{learned.version}.md").read_text()
    assert "## Backtest" in card and "± " in card and "## Fairness audit" in card  # with standard errors
    # grid sensitivity on the model's own data: the baselines on H3 res 8-10 and squares at two origins
    grid = card.split("## Grid sensitivity")[1].split("\n## ")[0]
    assert "| H3 res 10 | " in grid and ", shifted 0.5 | kde | " in grid and "Verdict: " in grid
    recorded = result.asset_materializations_for_node("hotspot_model")[0].metadata
    assert recorded["grid_sensitivity_verdict"].value in grid
    if method != "learned":  # the baseline the gate registered has its card too, with the same grid section
        page = (root / "home" / "reports" / "hotspots" / f"model_card_hotspot_lgbm_v{champ.version}.html").read_text()
        assert "<h2>Grid sensitivity</h2>" in page and "<td>H3 res 10</td>" in page


def test_gate_scores_both_models_out_of_sample_with_the_runs_config(built):
    """The gate reads hotspot_model's own config (another model name, 4 held-out weeks) and scores both registered
    models on the weeks after both models' training (the old gate used the default config, and rescored the
    champion on the backtest weeks it had trained on)."""
    defs, *_ = built
    ml = defs.resources["mlflow"].tracking_uri
    from models.registry import aliased, run_params, set_alias

    name = "hotspot_lgbm_gate"
    first = gate_of(model_run(built, seed=3, model_name=name, backtest_weeks=4))
    assert first.passed and first.metadata["decision"].value.startswith("no champion yet")
    assert aliased(ml, name, "champion") is not None  # the run's model name, not the default one
    set_alias(ml, aliased(ml, name, "challenger"), "champion")  # two learned models from here on
    res = model_run(built, seed=4, model_name=name, backtest_weeks=4)
    gate = gate_of(res)
    meta = {k: v.value for k, v in gate.metadata.items()}
    assert meta["challenger_version"] == aliased(ml, name, "challenger").version != "1" and meta["champion_version"] == "1"
    cutoffs = [pd.Timestamp(run_params(ml, aliased(ml, name, alias))["trained_to"], tz="UTC")
               for alias in ("challenger", "champion")]
    assert [str(c.date()) for c in cutoffs] == [meta["challenger_trained_to"], meta["champion_trained_to"]]
    weeks, n = meta["weeks"].split(" (")
    # weeks start at local midnight of the study area (Chicago)
    first_week, last_week = (pd.Timestamp(w).tz_localize("America/Chicago") for w in weeks.split(" .. "))
    assert n == "4)" and first_week >= max(cutoffs)  # out of sample for both models
    feats = defs.resources["lakehouse"].read("gold", "cell_features", columns=["period_start"])
    assert last_week == max(feats["period_start"].to_pylist())  # the last complete week of data
    assert meta["challenger_pai_1pct"] > 1 and meta["champion_pai_1pct"] > 1  # both rescored for real
    assert set(meta["baselines_pai_1pct"]) == {"naive", "kde", "prospective", "sepp"}  # on the same weeks
    assert res.success  # kept or moved, a champion serves: the run goes on
    assert gate.passed == ("champion_version_now" in meta)
    assert gate.passed or gate.severity == dg.AssetCheckSeverity.WARN
    assert aliased(ml, name, "champion").version == meta.get("champion_version_now", meta["champion_version"])


def _register_bad_model(defs, like) -> "RegisteredVersion":
    """A registered model that ranks first the cells with no crime in the past year, in them or their ring (PAI
    near 0: a cell quiet on its own but in a busy neighbourhood still sees crime)."""
    import pyarrow.compute as pc

    from jobs.grid.params import COMMIT_KEY, CellFeatureParams
    from models.hotspots.learned import STACK_FEATURES, LightGBMPoissonModel
    from models.hotspots.serving import SPEC_FILE, FeatureSpec
    from models.registry import log_onnx_model, run_params

    lh, tracking = defs.resources["lakehouse"], defs.resources["mlflow"]
    feats = lh.read("gold", "cell_features")
    params = CellFeatureParams.from_json(lh.written_with("gold", "cell_features", COMMIT_KEY))
    quiet = pc.cast(pc.and_(pc.equal(feats["roll_52"], 0), pc.equal(feats["ring_roll_52"], 0)), pa.int32())
    model = LightGBMPoissonModel(features=STACK_FEATURES, n_valid_periods=4, max_estimators=20, n_jobs=1,
                                 param_grid=({"num_leaves": 4, "min_child_samples": 50},))
    model.fit(feats.set_column(feats.schema.get_field_index("target"), "target", quiet))
    tracking.experiment("hotspots")
    return log_onnx_model(tracking.tracking_uri, experiment="hotspots", name="hotspot_lgbm",
                          onnx_model=model.to_onnx(), texts={SPEC_FILE: FeatureSpec(STACK_FEATURES, params).to_json()},
                          params={"trained_to": run_params(tracking.tracking_uri, like)["trained_to"]})


def test_gate_keeps_champion_unless_the_challenger_beats_it(built):
    defs, *_ = built
    ml = defs.resources["mlflow"].tracking_uri
    from models.registry import aliased, set_alias

    bad = _register_bad_model(defs, like=aliased(ml, "hotspot_lgbm", "challenger"))  # learned: has trained_to
    set_alias(ml, bad, "champion")
    res = model_run(built, seed=2)  # an honest new model against the bad champion
    gate = gate_of(res)
    # the bad champion loses: to the honest challenger, or to the best baseline if that beats both
    assert gate.passed and res.success and gate.metadata["serving"].value in {"learned", "naive", "kde",
                                                                                 "prospective", "sepp"}
    assert gate.metadata["champion_pai_1pct"].value < 1 < gate.metadata["challenger_pai_1pct"].value
    honest = aliased(ml, "hotspot_lgbm", "champion")
    assert honest.version not in (bad.version, "1")
    set_alias(ml, bad, "challenger")  # the bad model against the honest champion: the gate alone
    res = model_run(built, seed=2, check_only=True)  # seed unused: no training
    gate = gate_of(res)
    assert not gate.passed and gate.metadata["decision"].value.endswith("champion kept")
    assert gate.severity == dg.AssetCheckSeverity.WARN and res.success  # the honest champion goes on serving
    assert gate.metadata["challenger_pai_1pct"].value < gate.metadata["champion_pai_1pct"].value
    assert aliased(ml, "hotspot_lgbm", "champion").version == honest.version


def test_weekly_forecast_and_patrol_plan(built):
    defs, instance, mine, _, _, root = built
    weekly = [a for a in mine if a.partitions_def is not None]
    res = dg.materialize(weekly, resources=defs.resources, instance=instance, run_config=QUIET, partition_key=WEEK)
    assert res.success
    from models.registry import aliased, method_of

    uri = defs.resources["mlflow"].tracking_uri
    meta = res.asset_materializations_for_node("hotspot_forecast")[0].metadata
    serving = method_of(uri, aliased(uri, "hotspot_lgbm", "champion"))
    assert meta["method"].value == serving  # whichever method won the gate serves, and says so
    lh = defs.resources["lakehouse"]
    fc = lh.read("gold", "hotspot_forecast", filters=[("week", "=", WEEK)]).to_pandas()
    assert fc["h3"].is_unique and (fc["expected_count"] >= 0).all()
    assert sorted(fc["risk_rank"]) == list(range(1, len(fc) + 1))
    top = fc.sort_values("risk_rank")
    assert np.all(np.diff(top["expected_count"].to_numpy()) <= 1e-12)
    assert np.isclose(top["expected_share"].iloc[-1], 1.0)
    assert 0 < fc["in_top_cells"].sum() <= 0.011 * len(fc) + 1
    assert (fc["method"] == serving).all()
    if serving == "learned":  # TreeSHAP drivers per cell: "feature ×factor; ..." from the model's own features
        top_drivers = fc.sort_values("risk_rank")["drivers"].head(20)
        assert top_drivers.str.contains("×").all()
    else:  # a baseline explains itself by its method, not by features
        assert fc["drivers"].isna().all()

    out = root / "home" / "reports" / "hotspots"
    import geopandas as gpd

    gdf = gpd.read_parquet(out / f"forecast_{WEEK}.parquet")
    assert gdf.crs.to_epsg() == 4326 and len(gdf) == len(fc)
    page = (out / f"forecast_{WEEK}.html").read_text()
    # one file: Leaflet and the data inline, nothing loaded from elsewhere (tests/ui/test_maps.py opens it)
    assert "cf-map-data" in page and not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert "week of Mon 1 Jan 2018 – Sun 7 Jan 2018 (America/Chicago)" in page  # local dates
    assert f"Forecast by {serving}, v" in page  # the map's subtitle names the method that serves
    assert (out / f"forecast_{WEEK}.png").stat().st_size > 10_000

    plan = lh.read("gold", "patrol_plan", filters=[("week", "=", WEEK)]).to_pandas()
    cap = HotspotConfig().patrol_cells_per_shift
    assert plan["shift_label"].nunique() == 21 and len(plan) == 21 * cap
    assert set(plan["h3"]) <= set(fc["h3"])
    assert plan.sort_values("shift_start")["shift_label"].iloc[0] == "Mon 1 Jan 06:00–14:00"  # the week's Monday
    assert (out / f"patrol_{WEEK}.html").read_text().count("<table class='cf-table cf-shift-table'") == 21
    pmeta = res.asset_materializations_for_node("patrol_plan")[0].metadata
    # the split of each cell's week over its shifts was chosen on the weeks before, against an even split
    assert "even split" in pmeta["shift_profile"].value
    assert pmeta["shift_profile_validation"].value.count("\n") == 12  # header, rule and 11 candidates


def test_forecast_explain_rebuilds_a_served_score(built, monkeypatch):
    """Every forecast and patrol row names its model and the Delta versions it read; forecast-explain traces a
    served score back to them and scores it again from those versions (#17 provenance)."""
    import json

    from typer.testing import CliRunner

    from orchestration.cli import app

    defs, instance, mine, _, _, root = built
    lh = defs.resources["lakehouse"]
    if not lh.exists("gold", "hotspot_forecast") or \
            lh.read("gold", "hotspot_forecast", filters=[("week", "=", WEEK)]).num_rows == 0:
        weekly = [a for a in mine if a.partitions_def is not None]
        assert dg.materialize(weekly, resources=defs.resources, instance=instance, run_config=QUIET,
                              partition_key=WEEK).success
    fc = lh.read("gold", "hotspot_forecast", filters=[("week", "=", WEEK)]).to_pandas()
    assert fc["model_name"].eq("hotspot_lgbm").all() and fc["incidents_version"].notna().all()
    assert (fc["incidents_version"] <= lh.version("silver", "incidents")).all()
    plan = lh.read("gold", "patrol_plan", filters=[("week", "=", WEEK)]).to_pandas()
    assert plan["model_version"].eq(fc["model_version"].iloc[0]).all()
    assert plan["hotspot_forecast_version"].notna().all() and plan["incidents_version"].notna().all()

    for key, value in {"CRIMEFUSION_LAKE": str(root / "lake"), "CRIMEFUSION_HOME": str(root / "home"),
                       "CRIMEFUSION_LANDING": str(root / "landing"), "CRIMEFUSION_SYNTHETIC": "false"}.items():
        monkeypatch.setenv(key, value)
    top = fc.sort_values("risk_rank").iloc[0]
    res = CliRunner().invoke(app, ["forecast-explain", "--cell", top["h3"], "--period", "2018-01-03", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["week"] == WEEK and out["provenance"] == "complete"
    assert out["model"]["version"] == top["model_version"] and out["model"]["method"] == top["method"]
    assert out["inputs"]["incidents_version"]["version"] == top["incidents_version"]
    assert out["inputs"]["incidents_version"]["committed_at"]
    assert out["rebuilt"]["reproduced"] and out["rebuilt"]["expected_count"] == pytest.approx(top["expected_count"])
    text = CliRunner().invoke(app, ["forecast-explain", "--cell", top["h3"], "--period", WEEK])
    assert text.exit_code == 0 and "reproduced" in text.output and "silver/incidents" in text.output
    missing = CliRunner().invoke(app, ["forecast-explain", "--cell", "8928308280fffff", "--period", WEEK])
    assert missing.exit_code == 1 and "is not among" in missing.output
    bad = CliRunner().invoke(app, ["forecast-explain", "--cell", "nonsense", "--period", WEEK])
    assert bad.exit_code == 2 and "error: --cell" in bad.output
