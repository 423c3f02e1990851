"""ONNX graphs of LightGBM models take the branch LightGBM takes even for an input equal to a threshold."""

from __future__ import annotations

import re

import numpy as np
import pytest

lgb = pytest.importorskip("lightgbm")

from models.onnx_export import float32_thresholds, lightgbm_to_onnx, onnx_predict, onnx_session  # noqa: E402


def _fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 3))  # float64: split thresholds fall between float32 values
    y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1]))
    return lgb.LGBMRegressor(objective="poisson", n_estimators=40, num_leaves=15, verbose=-1).fit(X, y)


def _inputs_on_thresholds(booster) -> np.ndarray:
    """Rows whose feature equals a split threshold rounded to the nearest float32 (and, for the other
    features, the median)."""
    rows = []
    dump = booster.dump_model()["tree_info"]

    def walk(node):
        if "split_feature" in node:
            x = np.zeros(3, np.float32)
            x[node["split_feature"]] = np.float32(node["threshold"])
            rows.append(x)
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in dump:
        walk(tree["tree_structure"])
    return np.stack(rows)


def test_float32_thresholds_keep_every_native_prediction_and_the_graph_matches():
    model = _fitted()
    X = _inputs_on_thresholds(model.booster_)
    native = model.booster_.predict(X)
    adjusted = float32_thresholds(model.booster_)
    np.testing.assert_array_equal(adjusted.predict(X), native)  # same trees for float32 inputs
    thresholds = [float(v) for line in re.findall(r"^threshold=(.*)$", adjusted.model_to_string(), re.M)
                  for v in line.split()]
    assert all(float(np.float32(t)) == t for t in thresholds)  # every threshold is a float32 now
    onnx = onnx_predict(onnx_session(lightgbm_to_onnx(model, 3)), X)
    np.testing.assert_allclose(onnx, native, rtol=1e-5)
    # the plain conversion (thresholds rounded to nearest) disagrees on some of these rows
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    plain = onnxmltools.convert_lightgbm(model, initial_types=[("input", FloatTensorType([None, 3]))],
                                         target_opset=15)
    assert (np.abs(onnx_predict(onnx_session(plain), X) - native) > 1e-5 * np.abs(native)).any()
