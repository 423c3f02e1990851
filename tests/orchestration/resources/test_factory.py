"""One resource factory: Dagster gets secrets as ``EnvVar``s, the CLI gets their values, both the same resources."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
from typer.testing import CliRunner

from orchestration.resources.factory import build_resources, cli_resources
from orchestration.resources.lakehouse import LocalLakehouse, ObjectStoreLakehouse
from orchestration.resources.reports import Reports
from orchestration.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]
KEY = "a-pseudonym-key-of-at-least-32-bytes-0123456789"
CLUSTER = {"CRIMEFUSION_DEPLOYMENT": "cluster", "CRIMEFUSION_LAKE": "s3://crimes/lake",
           "CRIMEFUSION_S3_ENDPOINT": "http://127.0.0.1:9000", "CRIMEFUSION_PSEUDONYM_KEY": KEY,
           "AWS_ACCESS_KEY_ID": "AKIA-REAL-KEY", "AWS_SECRET_ACCESS_KEY": "real-secret"}


def test_dagster_and_the_cli_get_the_same_resources():
    settings = load_settings(CLUSTER)
    dagster = build_resources(settings, env=CLUSTER)
    cli = build_resources(settings, resolve_secrets=True, env=CLUSTER)
    assert set(dagster) == set(cli) == {"lakehouse", "sources", "compute", "pseudonymiser", "mlflow", "reports"}
    assert {k: type(v) for k, v in dagster.items()} == {k: type(v) for k, v in cli.items()}


def test_dagster_gets_env_vars_the_cli_gets_the_secret_values():
    settings = load_settings(CLUSTER)
    dagster = build_resources(settings, env=CLUSTER)["lakehouse"]
    assert isinstance(dagster.access_key_id, dg.EnvVar)  # Dagster reads it in the run's process
    # outside Dagster such a resource holds the variable's name: what `crimefusion links` used to send to S3
    assert dagster.storage_options()["AWS_ACCESS_KEY_ID"] == "AWS_ACCESS_KEY_ID"

    _, resources = cli_resources(env=CLUSTER)
    lake = resources["lakehouse"]
    assert isinstance(lake, ObjectStoreLakehouse)
    options = lake.storage_options()
    assert options["AWS_ACCESS_KEY_ID"] == "AKIA-REAL-KEY" and not isinstance(lake.access_key_id, dg.EnvVar)
    assert options["AWS_SECRET_ACCESS_KEY"] == "real-secret"
    assert options["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert resources["pseudonymiser"].key_bytes() == KEY.encode()


def test_lake_option_replaces_the_root_and_the_deployment_picks_the_implementation(tmp_path):
    _, cluster = cli_resources("s3://other/lake", env=CLUSTER)
    assert isinstance(cluster["lakehouse"], ObjectStoreLakehouse) and cluster["lakehouse"].root == "s3://other/lake"
    _, local = cli_resources(str(tmp_path / "lake"), env={})
    assert isinstance(local["lakehouse"], LocalLakehouse) and local["lakehouse"].root == str(tmp_path / "lake")


def test_reports_go_under_the_state_folder(tmp_path):
    reports = build_resources(load_settings({"CRIMEFUSION_HOME": str(tmp_path / "home")}))["reports"]
    assert isinstance(reports, Reports)
    assert reports.folder("links") == (tmp_path / "home" / "reports" / "links").resolve()
    assert reports.folder("links").is_dir()
    assert reports.exports("fusion") == (tmp_path / "home" / "exports" / "fusion").resolve()
    assert reports.models("series") == (tmp_path / "home" / "models" / "series").resolve()
    assert reports.notifications("failures") == (tmp_path / "home" / "notifications" / "failures.jsonl").resolve()


@pytest.mark.parametrize("deployment", ["local", "cluster"])
def test_cli_ingest_uses_the_deployments_lakehouse(tmp_path, monkeypatch, deployment):
    from orchestration.cli import app
    from orchestration.ingest import pipeline

    env = CLUSTER if deployment == "cluster" else {"CRIMEFUSION_LAKE": str(tmp_path / "lake")}
    for name in {*CLUSTER, "CRIMEFUSION_SPECS", "CRIMEFUSION_DATA_ROOTS", "MLFLOW_TRACKING_URI"}:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CRIMEFUSION_HOME", str(tmp_path / "home"))
    seen = {}

    def ingest_file(lakehouse, source, file, *, ctx, pseudonym_key):  # what the command hands the pipeline
        seen.update(lakehouse=lakehouse, key=pseudonym_key)
        return SimpleNamespace(rows_in=1, accepted=1, quarantined=0, table_version=0, rejects_by_rule={},
                               ingest_ids=["x"])

    monkeypatch.setattr(pipeline, "ingest_file", ingest_file)
    feed = tmp_path / "feed.csv"
    feed.write_text("occurred_at,lon,lat\n")
    result = CliRunner().invoke(app, ["ingest", "incidents", "--spec", str(ROOT / "specs" / "chicago_aggravated_assaults.yaml"),
                                      "--file", str(feed)])
    assert result.exit_code == 0, result.output
    lake = seen["lakehouse"]
    if deployment == "cluster":
        assert isinstance(lake, ObjectStoreLakehouse)
        assert lake.storage_options()["AWS_ACCESS_KEY_ID"] == "AKIA-REAL-KEY"
        assert seen["key"] == KEY.encode()
        assert json.loads(result.stdout.strip().splitlines()[-1])["lake"] == "s3://crimes/lake"
    else:
        assert isinstance(lake, LocalLakehouse) and lake.root == str(tmp_path / "lake")
