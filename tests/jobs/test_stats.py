"""Benjamini-Hochberg q-values (jobs/stats.py), the one copy Gi* hot spots and spike alerts both use."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.stats import benjamini_hochberg

NAN = np.nan

# (p-values, expected q-values, why)
CASES = [
    # sorted 0.01,0.03,0.04,0.20 -> 0.04, 0.06, 0.0533, 0.20 -> monotone: 0.04, 0.0533, 0.0533, 0.20
    ([0.01, 0.04, 0.03, 0.20], [0.04, 0.16 / 3, 0.16 / 3, 0.20], "hand values (Gi* cells)"),
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "BH") = 0.02 0.04 0.04 0.02; the NaN is not a test
    ([0.01, 0.04, 0.03, NAN, 0.005], [0.02, 0.04, 0.04, NAN, 0.02], "R reference, NaN kept out of m"),
    # 0.5*3/1 = 1.5, 0.8*3/2 = 1.2, 0.9*3/3 = 0.9: each q is the smallest at its rank or above
    ([0.5, 0.9, 0.8], [0.9, 0.9, 0.9], "step-up: a larger p lowers a smaller p's q"),
    ([0.01], [0.01], "one test: q = p"),
    ([0.02, 0.02, 0.02], [0.02, 0.02, 0.02], "ties"),
    ([NAN, NAN], [NAN, NAN], "no test: every q NaN"),
    ([], [], "empty"),
]


@pytest.mark.parametrize("p, expected, why", CASES, ids=[c[2] for c in CASES])
def test_benjamini_hochberg(p, expected, why):
    np.testing.assert_allclose(benjamini_hochberg(np.array(p, dtype=float)), expected)


def test_nan_is_not_a_test_and_shape_is_kept():
    p = np.array([[0.01, NAN], [0.04, 0.03]])
    q = benjamini_hochberg(p)
    assert q.shape == p.shape and np.isnan(q[0, 1])
    # the same three tests without the NaN give the same q-values
    np.testing.assert_allclose(q[~np.isnan(p)], benjamini_hochberg(np.array([0.01, 0.04, 0.03])))


def test_never_below_p_and_order_preserving():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=500) ** 3
    q = benjamini_hochberg(p)
    assert (q >= p - 1e-15).all() and (q <= 1).all()
    order = np.argsort(p)
    assert (np.diff(q[order]) >= -1e-15).all()
