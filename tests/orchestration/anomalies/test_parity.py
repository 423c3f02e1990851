"""The ONNX parity rule of the entity-model gate: exact models pass, a different model fails."""

import numpy as np
import pytest

from models.anomalies.detectors import ECODDetector, IsolationForestDetector
from models.anomalies.onnx_export import export
from models.anomalies.parity import onnx_parity

FEATURES = [f"f{i}" for i in range(4)]


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(3)
    return np.round(rng.lognormal(size=(400, 4)) * 10, 2)


@pytest.mark.parametrize("make", [lambda: IsolationForestDetector(n_estimators=30, seed=1), lambda: ECODDetector()],
                         ids=["isolation_forest", "ecod"])
def test_exported_model_passes(X, make):
    det = make().fit(X, feature_names=FEATURES)
    p = onnx_parity(det, export(det), X, FEATURES)
    assert p["passed"] and p["same_flagged"] and p["top_k_overlap"] == 1.0
    assert p["rows_mismatched"] <= 1


def test_another_model_fails(X):
    det = IsolationForestDetector(n_estimators=30, seed=1).fit(X, feature_names=FEATURES)
    other = IsolationForestDetector(n_estimators=30, seed=2).fit(X, feature_names=FEATURES)
    p = onnx_parity(det, export(other), X, FEATURES)
    assert not p["passed"] and p["rows_mismatched"] > 0.5 * len(X)

