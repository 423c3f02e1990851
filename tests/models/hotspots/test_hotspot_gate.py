"""Training with a held-out tail and the champion gate's arithmetic (weeks neither model saw, PAI on them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jobs.grid.cell_features import cell_features, resolve_params
from models.hotspots.gate import gate_weeks, mean_pai, trained_to, weekly_pai
from models.hotspots.learned import LearnedForecaster, default_feature_params, stacked_model
from models.hotspots.serving import FeatureSpec
from models.hotspots.training import holdout_split, require_weekly, train_hotspot_model
from models.registry import graph_digest

_spec = importlib.util.spec_from_file_location("hotspot_models", Path(__file__).with_name("test_hotspot_models.py"))
_m = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m)
CELLS, CELLS_T, ORIGIN, _events, _weekly_history = _m.CELLS, _m.CELLS_T, _m.ORIGIN, _m._events, _m._weekly_history


def W(d: str) -> pd.Timestamp:  # noqa: N802
    return pd.Timestamp(d, tz="UTC")


@pytest.mark.parametrize("cutoffs, origin, max_weeks, expected", [
    # same training span: the held-out weeks
    (["2024-01-01", "2024-01-01"], "2024-01-22", 6, ["2024-01-01", "2024-01-08", "2024-01-15"]),
    # an older champion: the challenger's cut-off bounds the weeks
    (["2023-06-05", "2024-01-08"], "2024-01-22", 6, ["2024-01-08", "2024-01-15"]),
    # a champion trained later than the challenger: its cut-off bounds them
    (["2024-01-15", "2024-01-01"], "2024-01-22", 6, ["2024-01-15"]),
    # more weeks than max_weeks: the latest
    (["2023-01-02"], "2024-01-22", 2, ["2024-01-08", "2024-01-15"]),
    # a cut-off inside a week: that week was partly trained on
    (["2024-01-03"], "2024-01-22", 6, ["2024-01-08", "2024-01-15"]),
    # the origin week is incomplete; nothing after both cut-offs: no week
    (["2024-01-22", "2024-01-01"], "2024-01-22", 6, []),
])
def test_gate_weeks_follow_every_models_training(cutoffs, origin, max_weeks, expected):
    got = gate_weeks([W(c) for c in cutoffs], W(origin), max_weeks)
    assert got == [W(e) for e in expected]
    assert all(w >= max(W(c) for c in cutoffs) and w + pd.Timedelta(weeks=1) <= W(origin) for w in got)


@pytest.mark.parametrize("params, expected", [
    ({"trained_to": "2024-01-01", "origin": "2024-02-12"}, W("2024-01-01")),
    ({"origin": "2024-02-12"}, W("2024-02-12")),  # versions logged before the hold-out trained up to origin
])
def test_trained_to_reads_the_run_params(params, expected):
    assert trained_to(params) == expected


def test_trained_to_refuses_a_run_without_dates():
    with pytest.raises(ValueError, match="trained_to"):
        trained_to({"seed": "0"})


@pytest.fixture(scope="module")
def gold():
    """A weekly cell_features table as the asset builds it, with its resolved parameters."""
    hist = _weekly_history(weeks=60)
    params = resolve_params(default_feature_params("W"), hist, CELLS_T)
    feats = cell_features(hist, CELLS_T, params, start=ORIGIN - pd.Timedelta(weeks=30),
                          end=ORIGIN - pd.Timedelta(weeks=1))
    return hist, feats, params


def test_holdout_split_keeps_the_last_weeks_out(gold):
    _, feats, _ = gold
    train, cut = holdout_split(feats, 4)
    assert cut == ORIGIN - pd.Timedelta(weeks=4)
    assert pc.max(train["period_start"]).as_py() == ORIGIN - pd.Timedelta(weeks=5)
    assert train.num_rows == feats.num_rows - 4 * len(CELLS)
    assert holdout_split(feats, 0) == (feats, ORIGIN)
    with pytest.raises(ValueError, match="hold out"):
        holdout_split(feats, 30)


def test_trained_model_never_sees_the_held_out_weeks_and_carries_the_tables_params(gold):
    _, feats, params = gold
    a = train_hotspot_model(feats, params, holdout_weeks=4, valid_weeks=4)
    assert a.trained_to == ORIGIN - pd.Timedelta(weeks=4) and a.origin == ORIGIN
    assert a.spec == FeatureSpec(tuple(a.model.feature_names_), params)
    assert FeatureSpec.from_json(a.spec.to_json()) == a.spec
    assert a.parity.n_rows == len(CELLS)
    # other targets in the held-out weeks: the same model
    held = pc.greater_equal(feats["period_start"], pa.scalar(a.trained_to, feats.schema.field("period_start").type))
    target = pc.if_else(held, pa.scalar(50, pa.int32()), feats["target"])
    b = train_hotspot_model(feats.set_column(feats.schema.get_field_index("target"), "target", target), params,
                            holdout_weeks=4, valid_weeks=4)
    assert graph_digest(a.onnx_model) == graph_digest(b.onnx_model)
    with pytest.raises(ValueError, match="daily rows"):
        require_weekly(feats.set_column(feats.schema.get_field_index("period_start"), "period_start",
                                        pc.add(feats["period_start"], pa.scalar(pd.Timedelta(days=1)))))


def _one_hot_city():
    """40 weeks of incidents all in cell 10, and a small learned model fitted 3 weeks before ORIGIN."""
    hot = CELLS[10]
    times = [ORIGIN - pd.Timedelta(weeks=40) + pd.Timedelta(hours=13 * i) for i in range(40 * 13)]
    inc = _events([hot] * len(times), times)
    model = stacked_model(n_valid_periods=4, max_estimators=20, n_jobs=1, zero_fraction=1.0,
                          param_grid=({"num_leaves": 4, "min_child_samples": 5},))
    f = LearnedForecaster(freq="W", burn_in_periods=4, train_periods=20, model=model).fit(
        inc, CELLS_T, origin=ORIGIN - pd.Timedelta(weeks=3))
    return inc, f


def test_weekly_pai_pinned_on_a_one_hot_cell_city():
    """All crime in one cell, ranked first by the model: the one flagged cell holds every incident,
    so PAI = total area / the cell's area."""
    inc, f = _one_hot_city()
    spec = FeatureSpec.of(f)
    weeks = [ORIGIN - pd.Timedelta(weeks=k) for k in (3, 2, 1)]
    pais = weekly_pai(f.model_.to_onnx(), spec, inc, CELLS_T, weeks, coverage=0.02)  # 0.02 x 61 cells: one cell
    area = CELLS_T["area_km2"].to_numpy()
    assert pais == pytest.approx([area.sum() / area[10]] * 3, rel=1e-9)
    assert mean_pai([1.0, np.nan, 3.0]) == 2.0 and np.isnan(mean_pai([np.nan]))
    # a week without incidents has no PAI
    quiet = inc.filter(pc.less(inc["occurred_at"], pa.scalar(weeks[-1], inc.schema.field("occurred_at").type)))
    assert np.isnan(weekly_pai(f.model_.to_onnx(), spec, quiet, CELLS_T, weeks[-1:], coverage=0.02)[0])



# -- the verdict: which method serves --------------------------------------------------------------------

@pytest.mark.parametrize("a, b, mean, se, n, beats", [
    ([3, 4, 5], [1, 2, 3], 2.0, 0.0, 3, True),               # the same lead every week
    ([3, 1, 5], [1, 2, 3], 1.0, np.sqrt(3) / np.sqrt(3), 3, False),  # a lead of 1 +- 1 SE: not more than SE
    ([3, np.nan, 5, 9], [1, 2, np.nan, 8], 1.5, 0.5, 2, True),  # NaN weeks dropped pairwise
    ([5], [1], 4.0, np.nan, 1, False),                        # one week: no standard error, never enough
    ([np.nan], [1], np.nan, np.nan, 0, False),
])
def test_paired_margin(a, b, mean, se, n, beats):
    from models.hotspots.gate import paired_margin

    m = paired_margin(a, b)
    assert m.n == n and m.beats == beats
    assert (np.isnan(m.mean) and np.isnan(mean)) or m.mean == pytest.approx(mean)
    assert (np.isnan(m.se) and np.isnan(se)) or m.se == pytest.approx(se)


STEADY = [9.0, 10.0, 11.0, 10.0]
BASES = {"naive": [8.0, 9.0, 10.0, 9.0], "kde": STEADY, "sepp": [5.0, 5.0, 6.0, 5.0]}  # kde best


@pytest.mark.parametrize("models, champion_method, winner, promote", [
    # no champion: the challenger serves only by beating the best baseline by more than SE
    ({"challenger": [x + 1 for x in STEADY]}, None, "challenger", True),
    ({"challenger": [x + 0.01 for x in STEADY]}, None, "challenger", True),   # a steady lead: SE 0
    ({"challenger": [10.0, 9.0, 12.0, 9.5]}, None, "kde", True),              # mean +0.125, noisy: kde serves
    ({"challenger": [x - 1 for x in STEADY]}, None, "kde", True),             # the make run case: lost to a baseline
    # a learned champion: the challenger must beat it and the best baseline
    ({"challenger": [x + 2 for x in STEADY], "champion": [x + 1 for x in STEADY]}, "learned", "challenger", True),
    ({"challenger": [x + 2 for x in STEADY], "champion": [x + 3 for x in STEADY]}, "learned", "champion", False),
    # beats the champion but not the best baseline, which beats the champion: the baseline takes over
    ({"challenger": [x - 0.5 for x in STEADY], "champion": [x - 1 for x in STEADY]}, "learned", "kde", True),
    # neither the challenger nor the baseline clears the champion: kept
    ({"challenger": [x - 0.5 for x in STEADY], "champion": [10.0, 9.0, 12.0, 9.5]}, "learned", "champion", False),
    # a baseline champion (kde) is kept against a challenger that does not beat it
    ({"challenger": [x - 1 for x in STEADY], "champion": STEADY}, "kde", "champion", False),
    ({"challenger": [x + 1 for x in STEADY], "champion": STEADY}, "kde", "challenger", True),
])
def test_decide_serves_the_best_method_baselines_included(models, champion_method, winner, promote):
    from models.hotspots.gate import decide

    d = decide(models, BASES, champion_method)
    assert (d.winner, d.promote, d.best_baseline) == (winner, promote, "kde")
    assert d.reason and all(np.isfinite(m.mean) for m in d.margins.values())
    means = {k: float(np.mean(v)) for k, v in {**models, **BASES}.items()}
    if winner != "champion":
        assert d.won_by(means).startswith(f"PAI@1% {means[winner]:.2f}; vs ")


def test_decide_needs_a_challenger_and_a_baseline():
    from models.hotspots.gate import decide

    with pytest.raises(ValueError, match="challenger"):
        decide({"champion": STEADY}, BASES)
    with pytest.raises(ValueError, match="baseline"):
        decide({"challenger": STEADY}, {})


def test_baseline_scorer_matches_the_backtest_s_scoring():
    """A registered baseline scores each week from the incidents before it, as the rolling-origin backtest does."""
    from models.evaluation.backtest import rolling_origin_backtest
    from models.hotspots.baselines import BASELINES
    from models.hotspots.gate import period_pai
    from models.hotspots.serving import BaselineScorer

    times = [ORIGIN - pd.Timedelta(weeks=30) + pd.Timedelta(hours=17 * i) for i in range(30 * 9)]
    cells = [CELLS[(i * 7) % 13] for i in range(len(times))]
    inc = _events(cells, times)
    weeks = [ORIGIN - pd.Timedelta(weeks=k) for k in (3, 2, 1)]
    res = rolling_origin_backtest(inc, CELLS_T, {"naive": lambda h: BASELINES["naive"]()},
                                  start=weeks[0], end=weeks[-1], coverages=(0.05,))
    expected = res.periods.sort_values("period_start")["pai"].to_numpy()
    scorer = BaselineScorer("naive", resolution=h3.get_resolution(CELLS[0]))
    got = period_pai(scorer, inc, CELLS_T, weeks, coverage=0.05)
    assert got == pytest.approx(list(expected), nan_ok=True)
    with pytest.raises(ValueError, match="unknown baseline 'oracle'"):
        BaselineScorer("oracle")


def test_served_drivers_come_with_the_same_expected_counts():
    """The scorer's drivers explain the counts it serves: same matrix, ONNX counts equal predict_many's,
    one driver text per cell; without a booster, no drivers."""
    from models.hotspots.explain import load_booster
    from models.hotspots.serving import OnnxHotspotScorer

    inc, f = _one_hot_city()
    booster = load_booster(f.model_.model_.booster_.model_to_string())
    scorer = OnnxHotspotScorer(f.model_.to_onnx(), FeatureSpec.of(f), booster)
    week = ORIGIN - pd.Timedelta(weeks=2)
    expected, drivers = scorer.predict_with_drivers(inc, CELLS_T, week)
    np.testing.assert_allclose(expected, scorer.predict_many(inc, CELLS_T, [week])[0], rtol=1e-6)
    assert len(drivers) == len(CELLS) and "×" in drivers[10]  # the hot cell: something drives it
    bare = OnnxHotspotScorer(f.model_.to_onnx(), FeatureSpec.of(f))
    assert bare.predict_with_drivers(inc, CELLS_T, week)[1] is None


def test_a_short_history_shortens_the_burn_in():
    """30 weeks of incidents and the default 52-week burn-in: half the history fills the windows, half trains
    (a year of a new feed is enough); with 3 weeks, a clear error says how much history is needed."""
    cells = [CELLS[i % 7] for i in range(30 * 10)]
    times = [ORIGIN - pd.Timedelta(weeks=30) + pd.Timedelta(hours=16.8 * i) for i in range(30 * 10)]
    inc = _events(cells, times)
    model = stacked_model(max_estimators=10, n_jobs=1, param_grid=({"num_leaves": 4, "min_child_samples": 5},))
    f = LearnedForecaster(freq="W", model=model).fit(inc, CELLS_T, origin=ORIGIN)
    assert f.burn_in_used_ == 15 and f.model_.n_valid_periods == 3  # 15 training weeks: a quarter validates
    assert np.isfinite(f.predict(ORIGIN)).all()
    long_ago = LearnedForecaster(freq="W", burn_in_periods=4, model=model).fit(inc, CELLS_T, origin=ORIGIN)
    assert long_ago.burn_in_used_ == 4  # enough training periods: the given burn-in stands
    recent = inc.filter(pc.greater_equal(inc["occurred_at"], pa.scalar(ORIGIN - pd.Timedelta(weeks=3),
                                                                       inc.schema.field("occurred_at").type)))
    with pytest.raises(ValueError, match="at least 7 periods of incidents"):
        LearnedForecaster(freq="W", model=model).fit(recent, CELLS_T, origin=ORIGIN)
