"""Anomaly assets on synthetic feeds in a temporary lakehouse and MLflow store, scored against the planted truth.

The silver and truth tables are what the ingestion of ``jobs.synth`` feeds
writes (identifiers pseudonymised with the demo key), built here without the
files; ``district_daily_counts`` is built from the incidents with a coarse
latitude band as district. Only the anomaly assets and checks run.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pytest

from jobs.ingest.pseudonymise import DEMO_KEY, pseudonymise
from jobs.links.synthetic import silver_from_synth
from jobs.schemas import OSINT_POSTS
from jobs.synth import generate
from jobs.synth.incidents import from_crimemapping
from orchestration.anomalies import assets as anomaly_assets
from orchestration.anomalies import checks as anomaly_checks
from orchestration.anomalies.sensors import SENSORS, critical_spike_sensor, notify_critical_spikes
from orchestration.resources.lakehouse import LocalLakehouse
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog
from orchestration.resources.tracking import MlflowTracking

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CSV = Path(__file__).resolve().parents[3] / "data" / "chicago" / "aggravated_assaults_2010_2017.csv.gz"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
ASSETS = dg.load_assets_from_modules([anomaly_assets])
CHECKS = dg.load_asset_checks_from_modules([anomaly_checks])


def osint_silver(posts: pa.Table) -> pa.Table:
    """Silver-shaped osint_posts: author pseudonymised, H3 (resolution 12) where geotagged."""
    import h3

    n = posts.num_rows
    cells = [None if lon is None or lat is None else h3.latlng_to_cell(lat, lon, 12)
             for lon, lat in zip(posts["lon"].to_pylist(), posts["lat"].to_pylist())]
    cols = {
        **{c: posts[c] for c in ("post_id", "platform", "text", "language", "posted_at", "lon", "lat", "place_name",
                                 "mentions", "urls")},
        "author": pseudonymise(posts["author"], key=DEMO_KEY, kind="handle"),
        "geometry": pa.nulls(n, pa.binary()), "h3": pa.array(cells, pa.string()),
        "source": pa.array(["synthetic_osint"] * n), "ingest_id": pa.array(["test"] * n),
        "source_file": pa.array(["osint_posts.jsonl"] * n), "source_row": pa.array(np.arange(n, dtype=np.int64)),
    }
    return pa.table({f.name: cols[f.name].cast(f.type) for f in OSINT_POSTS}, schema=OSINT_POSTS)


def district_counts(incidents: pa.Table) -> pa.Table:
    """The shape of gold district_daily_counts, districts being 0.05-degree latitude bands."""
    d = incidents.to_pandas()
    d["district"] = "band" + ((d["lat"] - 41.6) // 0.05).astype(int).astype(str)
    d["day"] = d["occurred_at"].dt.floor("D").dt.date
    g = d.groupby(["district", "category", "day"]).size().rename("incidents").reset_index()
    g.insert(0, "source", "chicago")
    return pa.Table.from_pandas(g, preserve_index=False).cast(
        pa.schema([("source", pa.string()), ("district", pa.string()), ("category", pa.string()),
                   ("day", pa.date32()), ("incidents", pa.int64())]))


def tracking(home: Path) -> MlflowTracking:
    return MlflowTracking(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
                          artifact_root=str(home / "mlflow" / "artifacts"))


def resources(lh: LocalLakehouse, home: Path) -> dict:
    """The lakehouse, MLflow under ``home``, reports and notifications written under ``home``, and the synthetic
    feeds' specs (their time zone is the report's)."""
    specs = sorted(str(p) for p in (Path(__file__).resolve().parents[3] / "specs" / "synthetic").glob("*.yaml"))
    return {"lakehouse": lh, "mlflow": tracking(home), "reports": Reports(home=str(home)),
            "sources": SourceCatalog(spec_paths=specs)}


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    if not CSV.exists():
        pytest.skip(f"{CSV} not found")
    incidents = from_crimemapping(pcsv.read_csv(CSV))
    since = pa.scalar(dt.datetime(2016, 6, 1, tzinfo=dt.timezone.utc), pa.timestamp("us", tz="UTC"))
    incidents = incidents.filter(pc.greater_equal(incidents["occurred_at"], since))
    feeds = generate(incidents, seed=1, scale=0.3)
    tables = silver_from_synth(feeds, key=DEMO_KEY)
    lh = LocalLakehouse(root=str(tmp_path_factory.mktemp("lake")))
    for name in ("cdr_events", "transactions", "cell_sites"):
        lh.overwrite("silver", name, tables[name])
    lh.overwrite("silver", "osint_posts", osint_silver(feeds.osint_posts))
    lh.overwrite("gold", "district_daily_counts", district_counts(incidents))
    for name, table in tables.items():
        if name.startswith("truth_"):
            lh.overwrite("truth", name[len("truth_"):], table)
    last = pc.max(tables["transactions"]["occurred_at"]).as_py().date()
    return lh, last


@pytest.fixture(scope="module")
def run(synth, tmp_path_factory):
    lh, day = synth
    home = tmp_path_factory.mktemp("home")
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([*ASSETS, *CHECKS], resources=resources(lh, home),
                            partition_key=day.isoformat(), instance=instance, run_config=QUIET)
    yield lh, result, home, instance, day


def metadata(result, key: str) -> dict:
    return {e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
            for e in result.get_asset_materialization_events()}[key]


def evaluations(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_every_asset_materialises_and_parity_passes(run):
    lh, result, _, _, _ = run
    assert result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert done == {"spike_alerts", "phone_features", "account_features", "entity_anomaly_model",
                    "entity_anomalies", "anomaly_report"}
    checks = evaluations(result)
    parity = checks["entity_anomaly_model_onnx_parity"]
    assert parity.passed and parity.metadata["models_checked"].value == 2
    assert checks["entity_anomalies_complete"].passed


def test_planted_atm_spikes_are_found(run):
    lh, result, _, _, day = run
    meta = metadata(result, "spike_alerts")
    assert meta["atm_truth_windows"].value >= 1
    assert meta["atm_recall"].value == 1.0
    assert meta["atm_precision"].value >= 0.5
    truth = lh.read("truth", "atm_spikes").to_pandas()
    alerts = lh.read("gold", "spike_alerts", filters=[("as_of_date", "=", day)]).to_pandas()
    atm = alerts[(alerts["feed"] == "atm_withdrawals") & alerts["alert"]]
    severities = set()
    for t in truth.itertuples():
        hit = atm[(atm["series_key"] == t.terminal_id) & (atm["window_start"] < t.window_end)
                  & (atm["window_end"] > t.window_start)]
        assert len(hit), f"planted spike at {t.terminal_id} {t.window_start} not found"
        severities |= set(hit["severity"])
    assert "critical" in severities  # a spike on a busy terminal may rank lower, not every one
    # every family was scored and its by-severity counts add up to the alerts
    assert set(meta["spans"].value) == {"atm_withdrawals", "cell_calls", "district_crimes", "osint_posts"}
    assert sum(meta["by_severity"].value["all"].values()) == meta["alerts"].value == int(alerts["alert"].sum())
    assert "| critical |" in meta["top_alerts"].value


def test_entity_scores_beat_chance_and_come_from_the_champion(run):
    lh, result, home, _, _ = run
    meta = metadata(result, "entity_anomaly_model")
    assert meta["phone_roc_auc"].value > 0.8  # burner phones
    assert meta["account_roc_auc"].value > 0.8  # mule accounts
    ent = lh.read("gold", "entity_anomalies").to_pandas()
    assert set(ent["entity_type"]) == {"phone", "account"}
    assert ent["model_uri"].str.match(r"models:/anomaly_(phones|accounts)/1$").all()
    # provenance: the model's name and version, and the version of the feature table scored
    assert (ent["model_uri"] == "models:/" + ent["model_name"] + "/" + ent["model_version"]).all()
    for entity_type, table in (("phone", "phone_features"), ("account", "account_features")):
        assert ent.loc[ent["entity_type"] == entity_type, "features_version"].eq(lh.version("gold", table)).all()
    top = ent[ent["rank"] == 1]
    assert all(len(v) == 3 for v in top["top_features"])
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
                          registry_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    for name in ("anomaly_phones", "anomaly_accounts"):
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    runs = mlflow.search_runs(experiment_names=["anomalies"], output_format="list")
    metrics = {k for r in runs for k in r.data.metrics}
    assert {"roc_auc", "p_at_10", "atm_spike_precision", "atm_spike_recall"} <= metrics


def test_report_written(run):
    lh, result, home, _, day = run
    meta = metadata(result, "anomaly_report")
    page = Path(meta["path"].value)
    assert page == home / "reports" / "anomalies" / "index.html"
    text = page.read_text()
    # dated by the end of its data (the last scored window), the scoring day stated apart
    end = pc.max(lh.read("gold", "spike_alerts", filters=[("as_of_date", "=", day)])["window_end"]).as_py()
    from jobs.anomalies.reports import local_time

    as_of = local_time(end, "America/Chicago")  # the synthetic feeds' specs: times read in Chicago
    assert as_of.endswith("(America/Chicago)") and pd.Timestamp(end).tz_convert("America/Chicago").strftime(
        "%Y-%m-%d %H:%M") in as_of
    assert f"<h1>Anomaly report, data as of {as_of}</h1>" in text and meta["data_as_of"].value == as_of
    assert f"<dt>Scoring day</dt><dd>{day} " in text and "<dt>Generated</dt>" in text
    assert "Most unusual phones" in text and "Most unusual accounts" in text
    assert "{'" not in text and "id='glossary'" in text and "<code>lower, upper</code>" in text
    assert "Settings quoted are as stored by the spike_alerts run" in text  # the run's own SpikeParams
    ent = lh.read("gold", "entity_anomalies").to_pandas()
    for _, g in ent.groupby("entity_type"):  # percentiles within each model, in the order of its scores
        assert g["score_pct"].between(0, 100).all() and g["score_pct"].max() == 100
        g = g.sort_values("score")
        assert (g["score_pct"].diff().dropna() >= 0).all()
    pngs = sorted(page.parent.glob("series_*.png"))
    assert meta["plots"].value == len(pngs) > 0
    assert all(p.read_bytes()[:4] == b"\x89PNG" and p.name in text for p in pngs)


def test_rescoring_a_day_replaces_its_rows(run):
    lh, _, home, instance, day = run
    before = lh.read("gold", "spike_alerts", filters=[("as_of_date", "=", day)]).num_rows
    again = dg.materialize([*ASSETS], resources=resources(lh, home),
                           partition_key=day.isoformat(), instance=instance, run_config=QUIET,
                           selection=["spike_alerts"])
    assert again.success
    assert lh.read("gold", "spike_alerts", filters=[("as_of_date", "=", day)]).num_rows == before


def test_critical_check_warns_and_sensor_notifies_once(run):
    lh, result, home, instance, day = run
    check = evaluations(result)["spike_alerts_no_new_critical"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["new_critical"].value == metadata(result, "spike_alerts")["critical"].value > 0

    ctx = dg.build_sensor_context(instance=instance, resources=resources(lh, home))
    requests = critical_spike_sensor(ctx)
    assert isinstance(requests, list) and len(requests) >= 1
    assert {r.run_config["ops"]["notify_critical_alerts"]["config"]["as_of_date"] for r in requests} == {day.isoformat()}
    # nothing new since the cursor: skip
    again = dg.build_sensor_context(instance=instance, cursor=ctx.cursor, resources=resources(lh, home))
    assert isinstance(critical_spike_sensor(again), dg.SkipReason)

    log = home / "notifications" / "anomalies.jsonl"
    for _ in range(2):  # the second run finds every alert already notified
        assert notify_critical_spikes.execute_in_process(run_config={**QUIET, **requests[0].run_config},
                                                         resources=resources(lh, home), instance=instance).success
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == metadata(result, "spike_alerts")["critical"].value
    assert {x["feed"] for x in lines} >= {"atm_withdrawals"}
    assert SENSORS == [critical_spike_sensor]


def test_flat_series_raise_nothing(tmp_path):
    lh = LocalLakehouse(root=str(tmp_path / "lake"))
    days = pd.date_range("2017-10-01", periods=90, freq="D").date  # runs a month past the scored day
    flat = pa.table({"source": ["chicago"] * 180, "district": ["1"] * 90 + ["2"] * 90, "category": ["assault"] * 180,
                     "day": pa.array(list(days) * 2, pa.date32()), "incidents": pa.array([7] * 180, pa.int64())})
    lh.overwrite("gold", "district_daily_counts", flat)
    result = dg.materialize([*ASSETS, *CHECKS], resources=resources(lh, tmp_path / "home"),
                            partition_key="2017-11-29", selection=["spike_alerts"],
                            instance=dg.DagsterInstance.ephemeral(), run_config=QUIET)
    assert result.success
    meta = metadata(result, "spike_alerts")
    assert meta["alerts"].value == 0 and meta["critical"].value == 0
    # scored up to the end of the partition's day (exclusive bound), not beyond the data that follows it
    assert meta["spans"].value["district_crimes"].startswith("2017-11-02 00:00 .. 2017-11-30 00:00 UTC, 2 series")
    assert evaluations(result)["spike_alerts_no_new_critical"].passed
    assert lh.count("gold", "spike_alerts") == 0


def test_cli_report_from_the_lake(run, tmp_path):
    from typer.testing import CliRunner

    from orchestration.cli.anomalies import app

    lh, _, _, _, day = run
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["report", "--out", str(out), "--lake", lh.root, "--as-of", day.isoformat(),
                                   "--timezone", "America/Chicago"])
    assert res.exit_code == 0, res.output
    assert (out / "index.html").exists() and list(out.glob("series_*.png"))
    assert "data as of" in res.output and "(America/Chicago)" in res.output and "{'" not in res.output
    assert "<th>window (America/Chicago)</th>" in (out / "index.html").read_text()
    default = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "default"), "--lake", lh.root])
    assert default.exit_code == 0 and "(America/Chicago)" in default.output  # the CDR/transaction specs' zone
    zone = CliRunner().invoke(app, ["report", "--out", str(out), "--lake", lh.root, "--timezone", "Chicago"])
    assert zone.exit_code == 2 and "unknown time zone" in zone.output
    bad = CliRunner().invoke(app, ["report", "--out", str(out), "--lake", str(tmp_path / "empty")])
    assert bad.exit_code == 1 and "materialise" in bad.output


def test_definitions_load_with_the_domain_modules(tmp_path):
    """What the integrator wires: the modules' assets, checks and sensors in one Definitions with an all-asset job."""
    defs = dg.Definitions(
        assets=ASSETS, asset_checks=CHECKS, sensors=SENSORS,
        jobs=[dg.define_asset_job("all", selection=dg.AssetSelection.all())],
        resources=resources(LocalLakehouse(root=str(tmp_path)), tmp_path),
    )
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"spike_alerts", "phone_features", "account_features", "entity_anomaly_model", "entity_anomalies",
            "anomaly_report"} <= keys
    assert {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys} == {
        ("spike_alerts", "spike_alerts_no_new_critical"),
        ("entity_anomaly_model", "entity_anomaly_model_onnx_parity"),
        ("entity_anomalies", "entity_anomalies_complete")}
    assert {"all", "notify_critical_spikes"} <= {j.name for j in defs.resolve_all_job_defs()}
    assert defs.resolve_job_def("all") is not None


def test_phone_sites_are_masts_from_the_site_register(run):
    from jobs.anomalies.entity_features import phone_features

    lh, _, _, _, _ = run
    gold = lh.read("gold", "phone_features", columns=["phone", "n_sites"]).sort_by("phone")
    cdr = lh.read("silver", "cdr_events", columns=["caller", "callee", "start_time", "direction", "cell_id", "imei", "imsi"])
    sectors = phone_features(cdr, cell_sites=None).sort_by("phone")
    assert gold["phone"].equals(sectors["phone"])
    # the synthetic masts carry three sectors each: a phone seen on two sectors of one mast has one site
    assert pc.all(pc.less_equal(gold["n_sites"], sectors["n_sites"])).as_py()
    assert pc.sum(gold["n_sites"]).as_py() < pc.sum(sectors["n_sites"]).as_py()


def test_run_prints_only_this_runs_alerts(run):
    """``crimefusion run`` counts the scoring day it materialised, not every day kept in the table."""
    from orchestration.cli.run import spike_alert_summary

    lh, result, home, _, day = run
    earlier = day - dt.timedelta(days=1)
    other = dg.materialize([*ASSETS], resources=resources(lh, home),
                           partition_key=earlier.isoformat(), instance=dg.DagsterInstance.ephemeral(),
                           run_config=QUIET, selection=["spike_alerts"])
    assert other.success
    alerts = lh.read("gold", "spike_alerts", columns=["as_of_date", "alert"]).filter(pc.field("alert"))
    n_day = metadata(result, "spike_alerts")["alerts"].value
    n_earlier = metadata(other, "spike_alerts")["alerts"].value
    assert alerts.num_rows == n_day + n_earlier and n_day > 0 and n_earlier > 0
    line = spike_alert_summary(lh, [result])
    assert f"(scored as of {day.isoformat()}): {n_day} (" in line
    assert f"{metadata(result, 'spike_alerts')['critical'].value} critical" in line
    assert f"(scored as of {earlier.isoformat()}): {n_earlier} (" in spike_alert_summary(lh, [other])
    assert f"{earlier.isoformat()}, {day.isoformat()}): {n_day + n_earlier} (" in spike_alert_summary(lh, [result, other])
