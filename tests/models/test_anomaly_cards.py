"""Entity anomaly model cards: every section present (measured or saying it is not), the evaluation from the
truth figures and ONNX parity, detector-specific rows and limits, and a real fitted detector's card logged to
its registered version's MLflow run and written to the reports folder."""

from __future__ import annotations

import numpy as np
import pytest

from models.anomalies.scoring import ENTITY_MODELS
from models.cards import anomaly_card, evaluation_rows, publish_card

PHONE, ACCOUNT = ENTITY_MODELS
QUALITY = {"n": 2559.0, "n_pos": 59.0, "n_truth": 59.0, "roc_auc": 0.999, "average_precision": 0.962,
           "p@10": 1.0, "p@50": 0.92, "p@100": 0.55, "r_precision": float("nan")}
PARITY = {"passed": True, "rows": 2559, "rows_mismatched": 1, "same_flagged": True, "max_abs_diff_score": 1.4e-3,
          "max_abs_diff_contributions": 2e-5, "top_k": 50, "top_k_overlap": 1.0}
PARAMS = {"contamination": 0.01, "seed": 0, "n_estimators": 100, "n_rows": 2559, "feature_table_version": 7}


def test_evaluation_rows_truth_then_parity_and_nan_left_out():
    rows = evaluation_rows(QUALITY, PARITY)
    assert list(rows.columns) == ["evaluation", "measure", "value"]
    truth = rows[rows["evaluation"] == "planted truth"]
    assert truth["measure"].tolist()[:4] == ["ROC AUC", "average precision", "precision at 10", "precision at 50"]
    assert not truth["measure"].str.startswith("R-precision").any()  # NaN: not printed as a figure
    assert truth["value"].iloc[-1] == "59 of 2,559"
    parity = rows[rows["evaluation"] == "ONNX parity"].set_index("measure")["value"]
    assert parity["passed"] == "yes" and parity["rows outside tolerance"] == "1"
    assert parity["largest score difference"] == "1.4e-03"
    assert set(evaluation_rows(None, PARITY)["evaluation"]) == {"ONNX parity"}


@pytest.mark.parametrize("spec", [PHONE, ACCOUNT], ids=["forest", "ecod"])
def test_card_sections(spec):
    card = anomaly_card(spec=spec, version="4", quality=QUALITY, parity=PARITY, params=PARAMS,
                        data_end="2017-12-31T23:00:00-06:00")
    md = card.markdown()
    for section in ("## Intended use", "## Out of scope", "## Data and period", "## Evaluation", "## Calibration",
                    "## Fairness audit", "## Known limits", "## Record"):
        assert section in md
    assert "## Backtest" not in md  # a detector is evaluated, not backtested
    assert md.startswith(f"# Model card: {spec.model_name} v4 ({spec.detector})")
    assert f"gold/{spec.table} Delta version:** 7" in md and "up to 2018-01-01 05:00 UTC" in md
    assert all(f in md for f in spec.features)
    assert "about 1.0% of" in md  # flagged by construction, said under calibration
    assert "Fairness audit\nNot measured." in md
    assert ("**trees:** 100" in md) == (spec.detector == "isolation_forest")
    assert ("seed" in md.split("## Known limits")[1]) == (spec.detector == "isolation_forest")
    assert ("combination of ordinary values" in md) == (spec.detector == "ecod")
    assert "synthetic demo, not real records" in md


def test_card_without_truth_says_ranking_is_not_measured_and_html_escapes():
    card = anomaly_card(spec=ACCOUNT, version="1", quality={}, parity={**PARITY, "passed": False},
                        params={"contamination": 0.05}, data_end=None)
    md = card.markdown()
    assert "ranking quality is not measured" in md and "planted truth |" not in md
    assert "Evaluated only against synthetic" not in md and "No ranking quality measured" in md
    assert "**ONNX parity at fit:** failed" in md and "up to" not in md
    page = card.html()
    assert "<h2>Evaluation</h2>" in page and page.count("<tr>") == 1 + 5  # header + the parity rows
    assert "`champion`" in page and "<script" not in page


def test_fitted_detector_card_logged_and_written(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from models.anomalies.champion import register_challenger
    from models.anomalies.scoring import fit_entity_model

    rng = np.random.default_rng(0)
    X = rng.lognormal(size=(300, len(ACCOUNT.features)))
    ids = np.array([f"acct{i}" for i in range(len(X))], dtype=object)
    X[:5] *= 40  # five planted mules, far out on every feature
    fitted = fit_entity_model(ACCOUNT, X, ids, {f"acct{i}" for i in range(5)}, contamination=0.02)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    params = {"contamination": 0.02, "n_rows": len(X), "feature_table_version": 3}
    MlflowClient(uri, uri).create_experiment("anomalies", artifact_location=str(tmp_path / "artifacts"))
    version = register_challenger(uri, ACCOUNT, fitted, experiment="anomalies", params=params)
    card = anomaly_card(spec=ACCOUNT, version=version.version, quality=fitted.quality, parity=fitted.parity,
                        params=params)
    paths = publish_card(card, uri, version.run_id, tmp_path / "reports")
    md = paths["card_md"].read_text()
    assert md.startswith("# Model card: anomaly_accounts v1 (ecod)")
    assert "| planted truth | ROC AUC | 1.000 |" in md and "| ONNX parity | passed | yes |" in md
    assert paths["card_html"].name == "model_card_anomaly_accounts_v1.html"
    arts = {a.path for a in MlflowClient(uri, uri).list_artifacts(version.run_id)}
    assert {"model_card.md", "model_card.html"} <= arts
