"""Drivers per cell and global importance from TreeSHAP terms of the LightGBM Poisson model."""

from __future__ import annotations

import numpy as np
import pytest

lgb = pytest.importorskip("lightgbm")

from models.hotspots.explain import (contributions, global_importance, load_booster, plot_importance,  # noqa: E402
                                     top_drivers)

NAMES = ("recent", "noise", "history")


@pytest.fixture(scope="module")
def booster():
    """Counts that depend strongly on ``recent``, weakly on ``history``, not at all on ``noise``."""
    rng = np.random.default_rng(0)
    X = rng.random((4000, 3))
    y = rng.poisson(np.exp(-1 + 2.5 * X[:, 0] + 0.4 * X[:, 2]))
    reg = lgb.LGBMRegressor(objective="poisson", n_estimators=60, num_leaves=8, verbose=-1, random_state=0)
    reg.fit(X, y)
    return load_booster(reg.booster_.model_to_string()), X  # through the text dump serving reads


def test_terms_add_up_to_the_log_expected_count(booster):
    b, X = booster
    c = contributions(b, X[:50])
    assert c.shape == (50, 4)
    np.testing.assert_allclose(np.exp(c.sum(axis=1)), b.predict(X[:50]), rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        contributions(b, X[:5, :2])


def test_global_importance_ranks_the_real_signal_first(booster):
    b, X = booster
    imp = global_importance(contributions(b, X), NAMES)
    assert list(imp.index) == ["recent", "history", "noise"] and imp["recent"] > 5 * imp["noise"]
    fig = plot_importance(imp, "test model")
    assert fig.axes[0].get_title() == "test model" and "TreeSHAP" in fig.axes[0].get_xlabel()


@pytest.mark.parametrize("row, k, expected", [
    ([0.5, -0.01, -0.3, 1.0], 3, "recent ×1.65; history ×0.74"),   # |noise| under 1 %: left out
    ([0.5, -0.01, -0.3, 1.0], 1, "recent ×1.65"),
    ([0.001, 0.0, -0.002, 1.0], 3, ""),                             # nothing moves the count by 1 %
    ([-0.2, 0.2, 0.0, 1.0], 2, "recent ×0.82; noise ×1.22"),        # equal size: feature order
])
def test_top_drivers_table(row, k, expected):
    assert top_drivers(np.array([row]), NAMES, k=k) == [expected]


def test_top_drivers_checks_its_shape():
    with pytest.raises(ValueError, match="4 columns"):
        top_drivers(np.zeros((2, 3)), NAMES)
