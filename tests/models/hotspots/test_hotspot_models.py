"""Behaviour tests of the grid forecasters: direction, invariance, minimum functionality,
the SEPP convergence guard, the learned model's ONNX parity and forecast_periods."""

from __future__ import annotations

import warnings

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from models.hotspots.baselines import NaiveCounts, ProspectiveHotspot, RetrospectiveKDE, SelfExcitingGrid
from models.hotspots.forecast import METHODS, forecast_periods
from jobs.grid.schemas import FORECAST_SCHEMA
from models.hotspots.learned import (
    STACK_FEATURES,
    LearnedForecaster,
    LightGBMPoissonModel,
    default_feature_params,
    stack_features,
    stacked_model,
)
from models.onnx_export import OnnxParityError, check_parity

CENTRE = h3.latlng_to_cell(41.85, -87.65, 9)
CELLS = sorted(h3.grid_disk(CENTRE, 4))  # 61 cells
CELLS_T = pa.table({"h3": CELLS, "area_km2": [h3.cell_area(c, "km^2") for c in CELLS]})
ORIGIN = pd.Timestamp("2024-01-01", tz="UTC")


def _events(cells, times):
    lat, lon = zip(*(h3.cell_to_latlng(c) for c in cells))
    return pa.table(
        {
            "occurred_at": pa.array(pd.DatetimeIndex(times).floor("us"), pa.timestamp("us", tz="UTC")),
            "h3": [h3.latlng_to_cell(a, b, 12) for a, b in zip(lat, lon)],
            "lon": list(lon),
            "lat": list(lat),
            "category": ["assault"] * len(cells),
            "location_type": ["street"] * len(cells),
        }
    )


def _background(seed=0, n=400, days=300):
    rng = np.random.default_rng(seed)
    hot = np.array(CELLS)[rng.choice(len(CELLS), 8, replace=False)]
    pool = np.concatenate([np.array(CELLS), np.repeat(hot, 6)])
    cells = rng.choice(pool, n)
    times = ORIGIN - pd.to_timedelta(rng.uniform(0.1, days, n), unit="D")
    return _events(cells, times)


BASELINES = [
    NaiveCounts(window_days=365),
    RetrospectiveKDE(bandwidth_m=600, window_days=365),
    ProspectiveHotspot(bandwidth_cells=2, bandwidth_weeks=8),
    SelfExcitingGrid(max_iter=500, tol=1e-6),
]


@pytest.mark.parametrize("model", BASELINES, ids=lambda m: type(m).__name__)
def test_direction_recent_crime_does_not_lower_risk(model):
    base = _background()
    target = CELLS[5]
    extra = _events([target] * 3, [ORIGIN - pd.Timedelta(days=d) for d in (1, 2, 3)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        before = model.fit(base, CELLS_T).predict(ORIGIN, "W")
        after = model.fit(pa.concat_tables([base, extra]), CELLS_T).predict(ORIGIN, "W")
    i = CELLS.index(target)
    assert after[i] > before[i]
    # Rank of the cell does not fall either.
    assert (after > after[i]).sum() <= (before > before[i]).sum()


@pytest.mark.parametrize("model", BASELINES, ids=lambda m: type(m).__name__)
def test_invariance_to_row_order_and_cell_order(model):
    base = _background(1)
    perm = np.random.default_rng(2).permutation(base.num_rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = model.fit(base, CELLS_T).predict(ORIGIN, "W")
        b = model.fit(base.take(perm), CELLS_T.take(np.arange(len(CELLS))[::-1]))
        b_scores = dict(zip(b.cells_h3.to_pylist(), b.predict(ORIGIN, "W")))
    assert np.allclose(a, [b_scores[c] for c in CELLS])


@pytest.mark.parametrize("model", BASELINES, ids=lambda m: type(m).__name__)
def test_minimum_functionality_hot_cells_rank_top_and_future_is_ignored(model):
    base = _background(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        s = model.fit(base, CELLS_T).predict(ORIGIN, "W")
        # Events at/after the period start change nothing.
        future = _events([CELLS[0]] * 5, [ORIGIN + pd.Timedelta(hours=h) for h in range(5)])
        s2 = model.update(future).predict(ORIGIN, "W")
    assert np.array_equal(s, s2)
    counts = pd.Series(pa.compute.utf8_slice_codeunits(base.column("h3"), 0, 15).to_pylist()).map(
        lambda c: h3.cell_to_parent(c, 9)).value_counts()
    top_true = set(counts.index[:4])
    top_pred = {CELLS[i] for i in np.argsort(-s)[:12]}
    assert len(top_true & top_pred) >= 2


def test_sepp_warns_when_not_converged_and_recovers_parameters():
    rng = np.random.default_rng(4)
    # Background Poisson process in a few cells plus one offspring 0.5 days after 30% of events.
    cells, times = [], []
    for c in CELLS[:20]:
        t = np.sort(rng.uniform(0, 2000, rng.poisson(40)))
        parent = rng.random(len(t)) < 0.3
        kids = t[parent] + rng.exponential(2.0, parent.sum())
        for tt in np.concatenate([t, kids]):
            cells.append(c)
            times.append(ORIGIN - pd.Timedelta(days=2001) + pd.Timedelta(days=float(tt)))
    ev = _events(cells, times)
    with pytest.warns(ConvergenceWarning):
        SelfExcitingGrid(max_iter=2).fit(ev, CELLS_T)
    m = SelfExcitingGrid(max_iter=1000, tol=1e-7, cutoff_days=60).fit(ev, CELLS_T)
    assert m.converged_
    assert 0.15 < m.theta_ < 0.45
    assert 0.25 < m.omega_ < 1.0  # true 1/2 per day


def _weekly_history(weeks=80, seed=5):
    rng = np.random.default_rng(seed)
    rate = np.exp(rng.normal(-2.0, 1.2, len(CELLS)))
    cells, times = [], []
    start = ORIGIN - pd.Timedelta(weeks=weeks)
    for w in range(weeks):
        k = rng.poisson(rate)
        for ci in np.repeat(np.arange(len(CELLS)), k):
            cells.append(CELLS[ci])
            times.append(start + pd.Timedelta(weeks=w) + pd.Timedelta(hours=float(rng.uniform(0, 167))))
    return _events(cells, times)


@pytest.fixture(scope="module")
def learned():
    model = LightGBMPoissonModel(n_valid_periods=8, max_estimators=40, n_jobs=1, zero_fraction=1.0)
    return LearnedForecaster(freq="W", burn_in_periods=8, train_periods=60, model=model).fit(
        _weekly_history(), CELLS_T, origin=ORIGIN
    )


def test_learned_selects_by_time_and_ranks_high_rate_cells(learned):
    assert {"params", "best_iteration", "hit_rate", "deviance"} <= set(learned.model_.validation_.columns)
    s = learned.predict(ORIGIN, "W")
    hist = _weekly_history()
    counts = pd.Series([h3.cell_to_parent(c, 9) for c in hist.column("h3").to_pylist()]).value_counts()
    top_true = set(counts.index[:6])
    assert len(top_true & {CELLS[i] for i in np.argsort(-s)[:10]}) >= 3
    with pytest.raises(ValueError, match="horizon"):
        learned.predict(ORIGIN, "D")


def test_learned_direction(learned):
    extra = _events([CELLS[7]] * 4, [ORIGIN - pd.Timedelta(days=d) for d in (1, 2, 3, 4)])
    before = learned.predict(ORIGIN, "W")[7]
    after = clone(learned).fit(_weekly_history(), CELLS_T, origin=ORIGIN).update(extra).predict(ORIGIN, "W")[7]
    assert after >= before


def test_windows_keep_their_meaning_in_weeks_of_time_for_days_and_shifts():
    assert stack_features("W") == STACK_FEATURES
    day, shift = default_feature_params("D"), default_feature_params("8h")
    assert day.windows == (7, 28, 91, 364) and shift.windows == (21, 84, 273, 1092)
    assert day.decay_half_lives == (91, 364, 728) and shift.kernel_window == 13 * 21
    assert "roll_364" in stack_features("D") and "kde_decay_2184" in stack_features("8h")
    assert "rate_all" in stack_features("D")
    with pytest.raises(ValueError, match="whole number"):
        default_feature_params(pd.Timedelta(hours=5))


def test_daily_model_trains_on_the_stack_in_its_own_windows():
    hist = _weekly_history(weeks=70)
    model = stacked_model(n_valid_periods=14, max_estimators=20, n_jobs=1, zero_fraction=1.0)
    fitted = LearnedForecaster(freq="D", burn_in_periods=56, train_periods=120, model=model).fit(
        hist, CELLS_T, origin=ORIGIN)
    assert tuple(fitted.model_.feature_names_) == stack_features("D")
    assert fitted.model.features == STACK_FEATURES  # the given estimator is left as it was
    assert fitted.model_.target_periods == 7 and fitted.model.target_periods == 1  # a week of days, on the clone
    s = fitted.predict_many([ORIGIN, ORIGIN + pd.Timedelta(days=1)], "D")
    assert s.shape == (2, len(CELLS)) and np.all(np.isfinite(s)) and np.all(s >= 0)


def test_smoothed_target_is_each_cells_mean_over_the_next_periods():
    from models.hotspots.learned import smoothed_target

    starts = pd.date_range("2017-01-02", periods=4, freq="D", tz="UTC")
    df = pd.DataFrame({"h3": ["a"] * 4 + ["b"] * 4, "period_start": list(starts) * 2,
                       "target": [1, 0, 2, 4, 0, 0, 3, 0], "f": range(8)}).sample(frac=1, random_state=1)
    out = smoothed_target(df, "target", 2).sort_values(["h3", "period_start"])
    assert out["h3"].tolist() == ["a"] * 3 + ["b"] * 3  # the last period's window passes the end: dropped
    assert out["target"].tolist() == [0.5, 1.0, 3.0, 0.0, 1.5, 1.5]
    assert out["f"].tolist() == [0, 1, 2, 4, 5, 6]  # features stay with their rows
    assert smoothed_target(df, "target", 1)["target"].tolist() == df["target"].tolist()
    with pytest.raises(ValueError, match="needs more than 4 periods"):
        smoothed_target(df, "target", 4)
    with pytest.raises(ValueError, match="positive int"):
        smoothed_target(df, "target", 0)


def test_onnx_parity_and_divergence_detected(learned):
    X = learned.features_for([ORIGIN])
    report = learned.model_.check_onnx_parity(X)
    assert report.n_rows == len(CELLS) and report.max_abs_diff < 1e-4
    native = learned.model_.predict(X)
    onnx_pred = learned.model_.predict_onnx(X)
    bumped = onnx_pred.copy()
    bumped[3] *= 1.01
    with pytest.raises(OnnxParityError, match="diverge"):
        check_parity(native, bumped)


@pytest.mark.parametrize("method", METHODS)
def test_forecast_periods_schema_coverage_and_no_leakage(method):
    hist = _weekly_history(weeks=60, seed=6)
    params = {"model": LightGBMPoissonModel(n_valid_periods=6, max_estimators=20, n_jobs=1), "burn_in_periods": 6} if method == "learned" else None
    kw = dict(start="2024-01-01", end="2024-01-15", step="W", resolution=9, method=method, method_params=params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = forecast_periods(pa.concat_tables([hist, _weekly_later()]), CELLS_T, **kw)
        # Replacing incidents on/after the last period start changes nothing.
        cut = pd.Timestamp("2024-01-15", tz="UTC")
        later = _weekly_later()
        keep = pa.compute.less(later.column("occurred_at"), pa.scalar(cut, later.column("occurred_at").type))
        alt = pa.concat_tables([hist, later.filter(keep), _events([CELLS[0]] * 9, [cut + pd.Timedelta(hours=1)] * 9)])
        out2 = forecast_periods(alt, CELLS_T, **kw)
    assert out.schema == FORECAST_SCHEMA
    assert out.num_rows == 3 * len(CELLS)
    assert set(out.column("h3").to_pylist()) == set(CELLS)
    assert out.equals(out2)


def _weekly_later():
    rng = np.random.default_rng(7)
    cells = list(rng.choice(CELLS, 30))
    return _events(cells, [ORIGIN + pd.Timedelta(hours=float(h)) for h in rng.uniform(0, 24 * 20, 30)])


def test_forecast_periods_rejects_unknown_method_and_step():
    with pytest.raises(ValueError, match="method"):
        forecast_periods(_background(), CELLS_T, start="2024-01-01", end="2024-01-08", method="oracle")
    with pytest.raises(ValueError, match="step"):
        forecast_periods(_background(), CELLS_T, start="2024-01-01", end="2024-01-08", step="8h")


def _shift_history(weeks=60, seed=11):
    """Every cell the same weekly rate; the first half of the cells busy 06-14, the rest 22-06 (UTC)."""
    rng = np.random.default_rng(seed)
    cells, times = [], []
    start = ORIGIN - pd.Timedelta(weeks=weeks)
    for w in range(weeks):
        for ci in np.repeat(np.arange(len(CELLS)), rng.poisson(1.5, len(CELLS))):
            day = pd.Timedelta(days=int(rng.integers(0, 7)))
            hour = 6 + rng.uniform(0, 8) if ci < len(CELLS) // 2 else 22 + rng.uniform(0, 8)
            cells.append(CELLS[ci])
            times.append(start + pd.Timedelta(weeks=w) + day + pd.Timedelta(hours=float(hour)))
    keep = [i for i, t in enumerate(times) if t < ORIGIN]
    return _events([cells[i] for i in keep], [times[i] for i in keep])


def test_shift_forecasts_learn_each_cells_time_of_day_on_validation_periods():
    hist = _shift_history()
    model = stacked_model(n_valid_periods=42, max_estimators=20, n_jobs=1, zero_fraction=1.0)
    kw = dict(freq="8h", burn_in_periods=21 * 8, train_periods=21 * 20, model=model,
              anchor=ORIGIN + pd.Timedelta(hours=6))
    fitted = LearnedForecaster(**kw).fit(hist, CELLS_T, origin=ORIGIN)
    assert fitted.profile_ is not None and fitted.profile_["cycle"] in (3, 21)
    assert {"cycle", "prior", "hit_rate", "deviance"} <= set(fitted.profile_validation_.columns)
    day_shift, night_shift = ORIGIN + pd.Timedelta(hours=6), ORIGIN + pd.Timedelta(hours=22)
    s = fitted.predict_many([day_shift, night_shift], "8h")
    half = len(CELLS) // 2
    assert s[0, :half].mean() > 3 * s[0, half:].mean()  # 06-14: the day cells
    assert s[1, half:].mean() > 3 * s[1, :half].mean()  # 22-06: the night cells

    off = LearnedForecaster(**kw, profile="off").fit(hist, CELLS_T, origin=ORIGIN)
    assert off.profile_ is None
    flat = off.predict_many([day_shift, night_shift], "8h")
    assert abs(flat[0, :half].mean() / flat[0, half:].mean() - 1) < 0.5  # without it the cells look alike
    with pytest.raises(ValueError, match="profile must be"):
        LearnedForecaster(**{**kw, "profile": "yes"}).fit(hist, CELLS_T, origin=ORIGIN)
    # a model that reads the shift's hour has its own view of time: no profile on top of it
    own = LearnedForecaster(**{**kw, "model": LightGBMPoissonModel(n_valid_periods=42, max_estimators=20, n_jobs=1)},
                            feature_params=default_feature_params("8h")).fit(hist, CELLS_T, origin=ORIGIN)
    assert "hour" in own.model_.feature_names_ and own.profile_ is None


def test_weekly_forecasts_have_no_profile(learned):
    assert learned.profile_ is None


def test_tweedie_objective_ranks_counts_and_exports_to_onnx():
    model = LightGBMPoissonModel(n_valid_periods=8, max_estimators=40, n_jobs=1, zero_fraction=1.0,
                                 objective="tweedie", tweedie_variance_power=1.3)
    fitted = LearnedForecaster(freq="W", burn_in_periods=8, train_periods=60, model=model).fit(
        _weekly_history(), CELLS_T, origin=ORIGIN)
    assert fitted.model_.model_.get_params()["objective"] == "tweedie"
    X = fitted.features_for([ORIGIN])
    assert fitted.model_.check_onnx_parity(X).max_abs_diff < 1e-4  # the exp link survives the export
    s = fitted.predict(ORIGIN, "W")
    assert np.all(s > 0) and 0.2 < s.sum() / _weekly_history().num_rows * 80 < 5  # a week's counts, not log-counts
    for bad, msg in (({"objective": "gamma"}, "objective must be"),
                     ({"objective": "tweedie", "tweedie_variance_power": 2.0}, "between 1 and 2")):
        with pytest.raises(ValueError, match=msg):
            LightGBMPoissonModel(**bad).fit(fitted.features_for([ORIGIN - pd.Timedelta(weeks=w) for w in range(30)]))


def test_the_profile_setting_reaches_the_learned_forecaster():
    from models.hotspots.forecast import make_forecaster

    assert make_forecaster("learned", "D", {"profile": "off"}).profile == "off"
    assert make_forecaster("learned", "D").profile == "auto"
