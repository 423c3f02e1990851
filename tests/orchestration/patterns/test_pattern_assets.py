"""Pattern assets on the bundled Chicago data, in a temporary lakehouse, with synthetic enrichment."""

from __future__ import annotations

import dagster as dg
import geopandas as gpd
import numpy as np
import pyarrow.compute as pc
import pytest

from jobs.synth import generate
from models.crime_series.linkage import MIN_HELDOUT_AUC
from orchestration.definitions import build_definitions
from orchestration.platform.lineage import domains
from orchestration.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
FAST = {"ops": {"near_repeat": {"config": {"nrep": 19}}}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    lake, home = tmp_path_factory.mktemp("lake"), tmp_path_factory.mktemp("home")
    # CRIMEFUSION_HOME reaches the assets through the `reports` resource the definitions build
    settings = load_settings({"CRIMEFUSION_LAKE": str(lake), "CRIMEFUSION_HOME": str(home),
                              "CRIMEFUSION_SYNTHETIC": "false", "CRIMEFUSION_LANDING": str(lake / "landing")})
    base = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    foundation = dg.define_asset_job("foundation", selection=dg.AssetSelection.assets("incidents").upstream().required_multi_asset_neighbors())
    job = dg.define_asset_job("patterns", selection=domains("patterns"))
    defs = dg.Definitions(
        assets=base.assets, asset_checks=base.asset_checks,
        jobs=[foundation, job], resources=base.resources, executor=dg.in_process_executor,
    )
    assert defs.resolve_job_def("foundation").execute_in_process(instance=instance, run_config=QUIET,
                                                                  partition_key="2026-11-28").success
    lh = base.resources["lakehouse"]
    # what the integrator's synthetic feeds will hold: enrichment in silver, planted truth in truth/
    silver = lh.read("silver", "incidents").drop_columns(["geometry"])
    feeds = generate(silver.filter(pc.equal(silver["source"], "chicago_aggravated_assaults")), seed=42)
    lh.overwrite("silver", "incident_enrichment", feeds.incident_enrichment)
    lh.overwrite("truth", "series", feeds.truth_series)
    result = defs.resolve_job_def("patterns").execute_in_process(instance=instance, run_config={**QUIET, **FAST})
    yield lh, result, home, feeds


def metadata(result, key):
    return {e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
            for e in result.get_asset_materialization_events()}[key]


def test_all_pattern_assets_and_checks_pass(run):
    lh, result, _, _ = run
    assert result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {"near_repeat_pairs_reconcile": True, "hotspots_gi_covers_study_area": True,
                           "crime_series_linkage_auc": True, "repeats_consistent": True}


def test_near_repeat_table_and_plot(run):
    lh, result, home, _ = run
    t = lh.read("gold", "near_repeat")
    categories = set(t["category"].to_pylist())
    assert "aggravated_assault" in categories
    groups = set(zip(t["source"].to_pylist(), t["category"].to_pylist()))
    assert t.num_rows == 5 * 5 * len(groups)  # default bands
    t = t.filter(pc.and_(pc.equal(t["category"], "aggravated_assault"),
                         pc.equal(t["source"], "chicago_aggravated_assaults")))
    assert set(t["timezone"].to_pylist()) == {"America/Chicago"}
    assert set(t["metric_crs"].to_pylist()) == {"EPSG:32616"}
    n = t["n_events"][0].as_py()
    days = (t["window_end"][0].as_py() - t["window_start"][0].as_py()).days
    assert days == 365 and 5_000 < n < 20_000
    assert t["incidents_version"][0].as_py() == lh.version("silver", "incidents")
    # near repeat is real in Chicago assaults: same place, same day is over-represented
    same = t.filter(pc.and_(pc.equal(t["s_lo"], 1.0), pc.equal(t["t_lo"], 0.0))).to_pylist()[0]
    assert same["knox_ratio"] > 1.1 and same["p_value"] <= 0.05  # measured 1.22 (2017, nrep 19)
    assert (home / "reports" / "patterns" / "near_repeat_chicago_aggravated_assaults_aggravated_assault.png").stat().st_size > 10_000
    assert "data:image/png;base64" in metadata(result, "near_repeat")["heat_table"].value


def test_hotspots_gi_and_geoparquet_crs_round_trip(run):
    lh, result, home, _ = run
    t = lh.read("gold", "hotspots_gi")
    assert t["h3"].null_count == 0 and len(set(t["h3"].to_pylist())) == t.num_rows
    assert set(t["resolution"].to_pylist()) == {9}
    assert metadata(result, "hotspots_gi")["hot_spots"].value == int(pc.sum(pc.greater(t["class"], 0)).as_py())
    chicago = t.filter(pc.equal(t["layer"], "police_districts"))
    assert chicago.num_rows > 3_000
    hot = int(pc.sum(pc.greater(chicago["class"], 0)).as_py())
    assert hot > 10  # assaults concentrate on the West and South sides
    gdf = gpd.read_parquet(home / "reports" / "patterns" / "hotspots_gi.parquet")
    assert gdf.crs is not None and gdf.crs.to_epsg() == 4326
    assert len(gdf) == t.num_rows and set(gdf.geom_type) == {"Polygon"}
    assert (home / "reports" / "patterns" / "hotspots_gi_police_districts.png").stat().st_size > 10_000


def test_crime_series_recovers_planted_series(run):
    lh, result, home, feeds = run
    meta = metadata(result, "crime_series")
    assert meta["heldout_auc"].value >= MIN_HELDOUT_AUC
    report = meta["linkage_report"].value
    assert report["lake_truth_auc"] >= MIN_HELDOUT_AUC
    found = lh.read("gold", "crime_series")
    from models.crime_series.linkage import pairwise_cluster_scores

    scope = feeds.incident_enrichment["incident_id"].to_pylist()
    scores = pairwise_cluster_scores(found, feeds.truth_series, scope)
    assert scores["recall"] >= 0.8 and scores["precision"] >= 0.5, scores
    assert (home / "models" / "series" / "linkage.joblib").exists()


def test_repeats(run):
    lh, _, _, feeds = run
    t = lh.read("gold", "repeats")
    kinds = set(t["kind"].to_pylist())
    assert "location" in kinds
    offenders = t.filter(pc.equal(t["kind"], "offender"))
    # series offenders named on 2+ incidents of their series must appear
    named = {}
    for iid, ids in zip(feeds.incident_enrichment["incident_id"].to_pylist(), feeds.incident_enrichment["offender_ids"].to_pylist()):
        for p in ids or []:
            named.setdefault(p, set()).add(iid)
    expected = {p for p, s in named.items() if len(s) >= 2}
    assert set(offenders["key"].to_pylist()) == expected
    assert np.all(t["n_incidents"].to_numpy() >= 2)


def test_series_match_cli_finds_the_series_of_a_repeat_incident(run, tmp_path, monkeypatch):
    import json

    import typer
    from typer.testing import CliRunner

    from orchestration.cli.crime_series import series_match

    lh, _, home, _ = run
    found = lh.read("gold", "crime_series")
    member = found["incident_id"][0].as_py()
    sid = found["series_id"][0].as_py()
    silver = lh.read("silver", "incidents", columns=["incident_id", "occurred_at", "lon", "lat", "location_type"])
    row = silver.filter(pc.equal(silver["incident_id"], member)).to_pylist()[0]
    enr = lh.read("silver", "incident_enrichment")
    mo = enr.filter(pc.equal(enr["incident_id"], member)).to_pylist()[0]
    new = {"occurred_at": (row["occurred_at"]).isoformat(), "lon": row["lon"] + 0.001, "lat": row["lat"],
           "mo_text": mo["mo_text"], "weapon": mo["weapon"], "location_type": row["location_type"]}
    (tmp_path / "new.json").write_text(json.dumps(new))
    monkeypatch.setenv("CRIMEFUSION_LAKE", lh.root)
    monkeypatch.setenv("CRIMEFUSION_HOME", str(home))
    app = typer.Typer()
    app.command()(series_match)
    out = tmp_path / "matches.json"
    res = CliRunner().invoke(app, ["--file", str(tmp_path / "new.json"), "--json", str(out), "--top", "3"])
    assert res.exit_code == 0, res.output
    matches = json.loads(out.read_text())
    assert matches[0]["series_id"] == sid and matches[0]["score"] >= 0.5

    res = CliRunner().invoke(app, ["--lon", "1.0"])
    assert res.exit_code == 2 and "occurred_at" in res.output
