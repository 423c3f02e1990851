"""Calibration of expected counts: Poisson deviance, reliability bins, the rescaling of scores that are not counts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.evaluation.backtest import expected_counts, plot_reliability, rolling_origin_backtest
from models.evaluation.metrics import MIN_EXPECTED, poisson_deviance, reliability_bins
from models.hotspots.baselines import NaiveCounts, SelfExcitingGrid

_spec = importlib.util.spec_from_file_location(
    "hotspot_models", Path(__file__).parents[1] / "hotspots" / "test_hotspot_models.py")
_m = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m)
CELLS_T, ORIGIN, _weekly_history = _m.CELLS_T, _m.ORIGIN, _m._weekly_history

DAY_NS = 86_400 * 10**9


def test_poisson_deviance_by_hand():
    # y = [0, 2], mu = [1, 1]: 2 * mean([0 - (0 - 1), 2 log 2 - (2 - 1)]) = 1 + 2 log 2 - 1
    assert poisson_deviance(np.array([1.0, 1.0]), np.array([0.0, 2.0])) == pytest.approx(2 * np.log(2))
    assert poisson_deviance(np.array([3.0, 0.5]), np.array([3.0, 0.5])) == pytest.approx(0.0, abs=1e-12)
    # a zero forecast that sees one crime costs 2 log(1 / MIN_EXPECTED) - 2 (1 - MIN_EXPECTED), averaged over 1 cell
    assert poisson_deviance(np.array([0.0]), np.array([1.0])) == pytest.approx(
        2 * (np.log(1 / MIN_EXPECTED) - (1 - MIN_EXPECTED)))
    with pytest.raises(ValueError, match="align"):
        poisson_deviance(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match=">= 0"):
        poisson_deviance(np.ones(2), np.array([1.0, -1.0]))


def test_the_true_rates_score_better_than_a_flat_forecast():
    rng = np.random.default_rng(3)
    mu = np.exp(rng.normal(-1, 1, 5000))
    y = rng.poisson(mu).astype(float)
    assert poisson_deviance(mu, y) < poisson_deviance(np.full_like(mu, mu.mean()), y)


def test_reliability_bins_of_a_calibrated_forecast_lie_on_the_diagonal():
    rng = np.random.default_rng(4)
    mu = np.exp(rng.normal(-1, 1, 40_000))
    y = rng.poisson(mu).astype(float)
    rel = reliability_bins(mu, y, n_bins=8)
    assert len(rel) == 8 and rel["n"].sum() == len(mu)
    assert rel["expected_mean"].is_monotonic_increasing
    assert np.all(np.abs(rel["observed_mean"] - rel["expected_mean"]) < 4 * rel["observed_se"] + 1e-9)
    # twice too high everywhere: every bin lies below the diagonal
    rel2 = reliability_bins(2 * mu, y, n_bins=8)
    assert (rel2["observed_mean"] < rel2["expected_mean"]).all()


def test_reliability_bins_merge_ties_and_take_empty_input():
    rel = reliability_bins(np.array([0.0, 0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0, 1.0]), n_bins=4)
    assert rel["n"].sum() == 4 and len(rel) == 2
    assert rel["observed_mean"].tolist() == pytest.approx([1 / 3, 1.0])
    assert reliability_bins(np.array([]), np.array([])).empty
    with pytest.raises(ValueError, match="n_bins"):
        reliability_bins(np.ones(2), np.ones(2), n_bins=0)


def test_scores_that_are_not_counts_keep_their_ranking_and_sum_to_the_trailing_rate():
    start = 400 * DAY_NS
    t = np.sort(np.r_[np.linspace(0, 364.9, 730), np.linspace(380, 399, 20)] * DAY_NS).astype(np.int64)
    # 730 + 20 events, of which the 365 days before start hold 20 + the 730 * (365 - 35) / 365 spread ones
    in_year = np.sum((t >= start - 365 * DAY_NS) & (t < start))
    scores = np.array([4.0, 1.0, 0.0, 3.0])
    mu = expected_counts(NaiveCounts(), scores, start, t, "W")
    assert mu.sum() == pytest.approx(in_year * 7 / 365)
    assert np.argsort(mu).tolist() == np.argsort(scores).tolist()
    # a method that predicts counts keeps its own
    assert expected_counts(SelfExcitingGrid(), scores, start, t, "W").tolist() == scores.tolist()
    # a short history: the rate over the days there are
    short = expected_counts(NaiveCounts(), scores, 10 * DAY_NS, np.array([0, 5 * DAY_NS]), "D")
    assert short.sum() == pytest.approx(2 / 10)


def test_the_backtest_reports_deviance_and_reliability_per_method():
    inc = _weekly_history(weeks=30)
    methods = {"naive": lambda h: NaiveCounts(), "sepp": lambda h: SelfExcitingGrid()}
    res = rolling_origin_backtest(inc, CELLS_T, methods, start=ORIGIN - pd.Timedelta(weeks=6),
                                  end=ORIGIN - pd.Timedelta(weeks=1))
    assert {"deviance", "expected_total", "observed_total"} <= set(res.periods.columns)
    assert (res.periods["deviance"] >= 0).all()
    assert {"deviance_mean", "deviance_se"} <= set(res.summary.columns)
    rel = res.reliability
    assert set(rel["method"]) == {"naive", "sepp"}
    # every cell-period of the 6 weeks is in exactly one bin, per method
    assert (rel.groupby("method")["n"].sum() == 6 * CELLS_T.num_rows).all()
    fig = plot_reliability(rel)
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].get_lines()) >= 3  # two methods + diagonal
