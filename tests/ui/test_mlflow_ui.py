"""The MLflow UI as an analyst opens it (README: ``mlflow ui --backend-store-uri sqlite:///...``), in Chromium.

A hotspot model version is registered the way ``hotspot_model`` registers one (run name that says what ran,
description, params, the backtest figure, its model card), then ``mlflow ui`` is started on that store, on
127.0.0.1, and the registered model's page, the version's run and its model card are opened in headless
Chromium: what a person must see is asserted and each page is saved as a screenshot in
``test-artifacts/ui/``. The server is stopped at the end (checked).
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.processes import alive, free_port, start_service
from tests.ui.test_asset_graph import ARTIFACTS

pytestmark = pytest.mark.slow

NAME = "hotspot_lgbm"
RUN_NAME = "hotspot_lgbm lightgbm week h3r9 data-end 2017-12-31"


def _register(tracking_uri: str, home: Path):
    """A small LightGBM Poisson model registered as a hotspot version would be, with its model card."""
    import lightgbm as lgb

    from models.cards import hotspot_card, publish_card
    from models.evaluation.backtest import plot_backtest
    from models.hotspots.training import DESCRIPTION
    from models.onnx_export import lightgbm_to_onnx
    from models.registry import log_onnx_model
    from orchestration.resources.tracking import MlflowTracking

    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3)).astype(np.float32)
    model = lgb.LGBMRegressor(objective="poisson", n_estimators=10, verbose=-1).fit(X, rng.poisson(1.0, 500))
    tracking = MlflowTracking(tracking_uri=tracking_uri, artifact_root=str(home / "mlflow" / "artifacts"))
    tracking.experiment("hotspots")
    summary = pd.DataFrame({"method": ["learned", "kde"], "horizon": "W", "coverage": 0.01, "pai_mean": [8.7, 8.6],
                            "pai_se": [0.2, 0.2], "hit_rate_mean": [0.087, 0.086], "hit_rate_se": [0.002, 0.002],
                            "deviance_mean": [0.61, 0.63], "deviance_se": [0.01, 0.01], "n_periods": 6})
    version = log_onnx_model(tracking_uri, experiment="hotspots", name=NAME, onnx_model=lightgbm_to_onnx(model, 3),
                             run_name=RUN_NAME, description=DESCRIPTION, alias="champion",
                             params={"train_weeks": 78, "resolution": 9, "trained_to": "2017-11-20T06:00:00+00:00"},
                             metrics={"backtest_pai_1pct_learned": 8.7},
                             figures={"backtest_pai.png": plot_backtest(summary, "pai")},
                             input_example=X[:3], output_example=model.predict(X[:3]))
    card = hotspot_card(name=NAME, version=version.version, method="learned", source="chicago_aggravated_assaults",
                        params={"timezone": "America/Chicago", "train_weeks": 78}, summary=summary, resolution=9)
    publish_card(card, tracking_uri, version.run_id, home / "reports")
    return version


def test_the_mlflow_ui_shows_the_registered_model_its_run_and_its_card(tmp_path, browser):
    db = tmp_path / "mlflow" / "mlflow.db"
    db.parent.mkdir(parents=True)
    uri = f"sqlite:///{db}"
    version = _register(uri, tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ui = start_service("mlflow-ui", [str(Path(sys.executable).parent / "mlflow"), "ui", "--backend-store-uri", uri,
                                     "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                       log_path=tmp_path / "mlflow-ui.log", env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"))
    try:
        ui.wait_http(f"{base}/health", timeout=120)
        ui.remember()
        with urllib.request.urlopen(f"{base}/health", timeout=10) as r:
            assert r.status == 200
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # the registered model: its description says what it is for, the version has the alias
        page.goto(f"{base}/#/models/{NAME}", wait_until="domcontentloaded")
        page.get_by_text(NAME).first.wait_for(state="visible", timeout=90_000)
        page.get_by_text("Version 1").first.wait_for(state="visible", timeout=60_000)
        page.get_by_text("champion").first.wait_for(state="visible", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "mlflow_registered_model.png"), full_page=True)

        # the version's run: named for what ran, with its params
        page.goto(f"{base}/#/experiments/{_experiment_id(uri)}/runs/{version.run_id}", wait_until="domcontentloaded")
        page.get_by_text(RUN_NAME).first.wait_for(state="visible", timeout=90_000)
        page.get_by_text("train_weeks").first.wait_for(state="visible", timeout=30_000)
        page.get_by_text("Crime risk per H3 cell").first.wait_for(state="visible", timeout=30_000)  # its description
        page.screenshot(path=str(ARTIFACTS / "mlflow_run.png"), full_page=True)

        # the model card among its artifacts, readable through the UI's artifact endpoint
        card = urllib.request.urlopen(f"{base}/get-artifact?path=model_card.md&run_uuid={version.run_id}",
                                      timeout=30).read().decode()
        assert f"# Model card: {NAME} v{version.version} (learned)" in card and "## Calibration" in card
        assert "weeks from Monday 00:00 local time (America/Chicago)" in card
        page.goto(f"{base}/#/experiments/{_experiment_id(uri)}/runs/{version.run_id}/artifacts",
                  wait_until="domcontentloaded")
        page.get_by_text("model_card.html").first.wait_for(state="visible", timeout=90_000)
        page.get_by_text("model_card.md").first.click()  # previewed as Markdown beside the list
        page.get_by_text("Intended use").first.wait_for(state="visible", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "mlflow_artifacts.png"), full_page=True)
        assert not errors, errors
        page.close()
    finally:
        left = ui.stop(grace=30)
    assert not left, f"processes left running: {left}\n{ui.log_tail()}"
    assert not alive(ui.pid)


def _experiment_id(uri: str) -> str:
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri).get_experiment_by_name("hotspots").experiment_id
