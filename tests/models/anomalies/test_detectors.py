"""Detectors: planted outliers rank first, explanations name the planted feature, ONNX matches native."""

import os

import numpy as np
import pytest

from models.anomalies.detectors import ECODDetector, IsolationForestDetector, top_features
from models.anomalies.onnx_export import export, export_isolation_forest, export_isolation_forest_skl2onnx
from models.anomalies.serving import OnnxScorer

NAMES = ["calls", "contacts", "night", "cells", "imeis"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [rng.poisson(40, 3000), rng.poisson(12, 3000), rng.beta(2, 10, 3000), rng.poisson(15, 3000), 1 + rng.poisson(0.3, 3000)]
    ).astype(float)
    X[:5, 4] = 8  # eight handsets
    X[5:10, 0] = 400  # ten times the calls
    return X


DETECTORS = [lambda: IsolationForestDetector(n_estimators=60, seed=1), lambda: ECODDetector(max_bins=256)]


@pytest.mark.parametrize("make", DETECTORS)
def test_planted_outliers_rank_first_and_are_explained(make, data):
    det = make().fit(data, feature_names=NAMES)
    s = det.score_samples(data)
    # A single extreme feature is a mild outlier for both (ECOD caps a tail at log n;
    # IF cannot split past a subsample's range): all ten lie in the top 5%.
    assert set(range(10)) <= set(np.argsort(-s)[:150])
    tops = det.explain(data[:10], k=1)
    assert [t[0][0] for t in tops] == ["imeis"] * 5 + ["calls"] * 5
    flagged = det.predict(data)
    assert flagged.mean() < 0.03


@pytest.mark.parametrize("make", DETECTORS)
def test_onnx_matches_native(make, data):
    det = make().fit(data, feature_names=NAMES)
    rng = np.random.default_rng(9)
    Xt = np.vstack([data, data[rng.integers(0, len(data), 2000)] * rng.choice([0.5, 1, 3], size=(2000, 5))])
    sc = OnnxScorer(export(det), NAMES, batch_size=1000)
    s, c = sc.score(Xt)
    np.testing.assert_allclose(s, det.score_samples(Xt), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c, det.contributions(Xt), rtol=1e-4, atol=1e-4)


def test_parity_check_fails_when_model_diverges(data):
    det = ECODDetector(max_bins=256).fit(data, feature_names=NAMES)
    other = ECODDetector(max_bins=256).fit(data * 1.5, feature_names=NAMES)
    s, _ = OnnxScorer(export(other), NAMES).score(data)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(s, det.score_samples(data), rtol=1e-5, atol=1e-5)


def test_isolation_forest_score_only_and_skl2onnx_reference(data):
    det = IsolationForestDetector(n_estimators=30, seed=2).fit(data)
    s, c = OnnxScorer(export_isolation_forest(det, contributions=False), det.feature_names_).score(data)
    assert c.shape == (len(data), 0)
    np.testing.assert_allclose(s, det.score_samples(data), atol=1e-5)
    import onnxruntime as ort

    ref = ort.InferenceSession(export_isolation_forest_skl2onnx(det).SerializeToString())
    Xp = det._pre(data).astype(np.float32)
    out = dict(zip([o.name for o in ref.get_outputs()], ref.run(None, {ref.get_inputs()[0].name: Xp})))
    np.testing.assert_allclose(out["scores"].ravel(), det.forest_.decision_function(Xp), atol=1e-5)


def test_ecod_contributions_sum_to_score(data):
    det = ECODDetector().fit(data)
    np.testing.assert_allclose(det.contributions(data).sum(1), det.score_samples(data))


def test_direction_more_extreme_is_not_less_anomalous(data):
    det = ECODDetector().fit(data, feature_names=NAMES)
    row = np.median(data, axis=0)
    rows = np.array([row, row * [2, 1, 1, 1, 1], row * [4, 1, 1, 1, 1]])
    s = det.score_samples(rows)
    assert s[0] <= s[1] <= s[2]


def test_seeded_forest_is_reproducible(data):
    a = IsolationForestDetector(n_estimators=20, seed=5).fit(data).score_samples(data)
    b = IsolationForestDetector(n_estimators=20, seed=5).fit(data).score_samples(data)
    np.testing.assert_array_equal(a, b)


def test_serving_table(data):
    det = IsolationForestDetector(n_estimators=30, seed=1).fit(data, feature_names=NAMES)
    import pyarrow as pa

    tbl = pa.table({"phone": [f"p{i}" for i in range(len(data))], **{n: data[:, j] for j, n in enumerate(NAMES)}})
    out = OnnxScorer(export(det), NAMES, threshold=det.threshold_).score_table(tbl, entity_col="phone", top_k=2)
    assert out["rank"].to_pylist()[:3] == [1, 2, 3]
    top = out.slice(0, 150).to_pylist()
    assert {f"p{i}" for i in range(10)} <= {r["entity"] for r in top}
    assert top[0]["flagged"] and len(top[0]["top_features"]) == 2
    assert out["score"].to_numpy()[0] >= out["score"].to_numpy()[-1]


@pytest.mark.parametrize(
    ("call", "err"),
    [
        (lambda: ECODDetector().fit(np.array([[1.0, np.nan], [2, 3]])), ValueError),
        (lambda: ECODDetector(contamination=0.7).fit(np.ones((5, 2))), ValueError),
        (lambda: ECODDetector().fit(np.ones((5, 2))).score_samples(np.ones((2, 3))), ValueError),
        (lambda: IsolationForestDetector().score_samples(np.ones((2, 2))), ValueError),
        (lambda: export(object()), TypeError),
    ],
)
def test_errors(call, err):
    with pytest.raises(err):
        call()


def test_top_features():
    assert top_features(np.array([[0.1, 3.0, 2.0]]), ["a", "b", "c"], 2) == [[("b", 3.0), ("c", 2.0)]]


@pytest.mark.slow
def test_register_and_load_from_mlflow(tmp_path, data, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    from models.registry import load_onnx, log_onnx_model

    det = ECODDetector(max_bins=64).fit(data, feature_names=NAMES)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    ref = log_onnx_model(uri, onnx_model=export(det), name="phone_ecod", alias="champion", experiment="anomalies",
                         params={"features": ",".join(NAMES)}, metrics={"roc_auc": 0.9},
                         artifact_location=str(tmp_path / "artifacts"))
    assert ref.uri == "models:/phone_ecod/1"
    model, _ = load_onnx(uri, "models:/phone_ecod@champion")
    s, _ = OnnxScorer(model, NAMES).score(data)
    np.testing.assert_allclose(s, det.score_samples(data), atol=1e-5)
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
