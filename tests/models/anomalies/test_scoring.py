"""Entity models: feature matrix, fit with its ONNX parity, and scored gold rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from models.anomalies.scoring import EntityModel, feature_matrix, fit_entity_model, score_entities
from jobs.anomalies.schemas import ENTITY_ANOMALIES
from models.anomalies.serving import OnnxScorer

SPEC = EntityModel("phone", "phone_features", "phone", ("f0", "f1", "f2"), "ecod", "anomaly_phones")


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(2)
    X = np.round(rng.lognormal(size=(200, 3)) * 10, 2)
    X[7] = [500.0, 400.0, 300.0]  # one clear outlier
    return pa.table({"phone": [f"p{i}" for i in range(200)], **{f"f{j}": X[:, j] for j in range(3)}})


def test_feature_matrix():
    t = pa.table({"a": [1.0, None, float("inf")], "b": [0.5, 2.0, float("nan")]})
    assert feature_matrix(t, ["b", "a"]).tolist() == [[0.5, 1.0], [2.0, 0.0], [0.0, 0.0]]
    assert feature_matrix(t.slice(0, 0), ["a"]).shape == (0, 1)
    with pytest.raises(ValueError, match="lacks columns"):
        feature_matrix(t, ["c"])


def test_fit_then_score(features):
    X = feature_matrix(features, SPEC.features)
    fitted = fit_entity_model(SPEC, X, features["phone"].to_numpy(zero_copy_only=False), {"p7"})
    assert fitted.parity["passed"] and fitted.quality["p@10"] > 0 and "ROC AUC" in fitted.describe()
    scorer = OnnxScorer(fitted.onnx_model, list(SPEC.features), threshold=float(fitted.detector.threshold_))
    now = pd.Timestamp("2024-05-01", tz="UTC")
    table = score_entities(scorer, features, SPEC, model_uri="models:/anomaly_phones/1", scored_at=now)
    assert table.schema.equals(ENTITY_ANOMALIES) and table.num_rows == 200
    assert table["entity"][0].as_py() == "p7" and table["rank"][0].as_py() == 1
    assert set(table["entity_type"].to_pylist()) == {"phone"} and len(table["top_features"][0]) == 3
    # percentile among the 200 scored: in (0, 100], the top at 100, never lower for a higher raw score
    pct, score = table["score_pct"].to_numpy(), table["score"].to_numpy()
    assert ((pct > 0) & (pct <= 100)).all() and pct[0] == 100 and pct.min() == pytest.approx(100 / 200)
    order = np.argsort(score, kind="stable")
    assert (np.diff(pct[order]) >= 0).all()
