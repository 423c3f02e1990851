"""Served entity scores as percentiles within their model: range, order, ties, and one population per call."""

import numpy as np
import pyarrow as pa
import pytest

from models.anomalies.report import _pct
from models.anomalies.serving import score_percentiles


@pytest.mark.parametrize("scores, expected", [
    ([3.0, 1.0, 2.0, 4.0], [75.0, 25.0, 50.0, 100.0]),
    ([0.5, 0.5, 0.9], [200 / 3, 200 / 3, 100.0]),  # ties share the higher value
    ([7.0], [100.0]),
    ([], []),
    ([1.0, np.nan, 2.0], [50.0, np.nan, 100.0]),  # NaN is not in the population
])
def test_score_percentiles(scores, expected):
    np.testing.assert_allclose(score_percentiles(scores), expected)


@pytest.mark.parametrize("scale", [0.01, 1.0, 40.0])  # Isolation Forest ~0.7, ECOD ~30: same percentiles
def test_percentiles_are_in_range_monotone_and_scale_free(scale):
    rng = np.random.default_rng(3)
    s = rng.gamma(2.0, size=5000)
    p = score_percentiles(s * scale)
    assert ((p > 0) & (p <= 100)).all() and p.max() == 100
    order = np.argsort(s)
    assert (np.diff(p[order]) >= 0).all()
    np.testing.assert_array_equal(p, score_percentiles(s))


def test_score_table_adds_the_percentile():
    from models.anomalies.detectors import ECODDetector
    from models.anomalies.onnx_export import export
    from models.anomalies.serving import OnnxScorer

    rng = np.random.default_rng(4)
    X = rng.lognormal(size=(300, 3))
    det = ECODDetector().fit(X, feature_names=["a", "b", "c"])
    tbl = pa.table({"phone": [f"p{i}" for i in range(300)], **{n: X[:, j] for j, n in enumerate("abc")}})
    out = OnnxScorer(export(det), list("abc")).score_table(tbl, entity_col="phone").to_pandas()
    assert out["score_pct"].between(0, 100).all() and out["score_pct"].iloc[0] == 100
    assert (np.diff(out["score_pct"]) <= 0).all() and (np.diff(out["score"]) <= 0).all()
    empty = OnnxScorer(export(det), list("abc")).score_table(tbl.slice(0, 0), entity_col="phone")
    assert empty.num_rows == 0 and "score_pct" in empty.column_names


@pytest.mark.parametrize("value, n, shown", [
    (100.0, 300, "100"), (99.67, 300, "99.6"), (99.998, 50_000, "99.998"), (99.9999, 50_000, "99.999"),
    (93.6667, 300, "93.6"), (42.0, 3, "42.0"), (float("nan"), 10, ""),
])
def test_percentile_text_never_rounds_up_to_100(value, n, shown):
    assert _pct(value, n) == shown
