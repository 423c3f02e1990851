"""Spike detection: planted spikes found, flat/seasonal/quiet series silent, gaps handled."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from jobs.anomalies.spikes import SpikeParams, detect_spikes, nb_quantile, nb_upper_tail, spike_params


def _table(Y, start="2024-01-01", freq="D"):
    S, T = Y.shape
    times = pd.date_range(start, periods=T, freq=freq, tz="UTC")
    return pa.table(
        {
            "series_key": np.repeat([f"s{i}" for i in range(S)], T),
            "period_start": pa.array(np.tile(times, S), pa.timestamp("us", tz="UTC")),
            "count": Y.ravel().astype(np.int64),
        }
    )


def _alerts(out):
    return out.filter(out["alert"]).to_pandas()


def test_planted_spike_is_found_and_nothing_else():
    rng = np.random.default_rng(1)
    Y = rng.poisson(6.0, size=(40, 182))
    Y[7, 90] += 25
    al = _alerts(detect_spikes(_table(Y)))
    assert list(zip(al.series_key, al.window_start.dt.strftime("%Y-%m-%d"))) == [("s7", "2024-03-31")]
    assert al.severity.iloc[0] == "critical"
    assert al.observed.iloc[0] > al.upper.iloc[0]


def test_flat_series_raises_nothing():
    Y = np.full((5, 120), 8)
    out = detect_spikes(_table(Y))
    assert not out["alert"].to_numpy().any()
    assert np.allclose(out["expected"].to_numpy(), 8.0, rtol=1e-3)


def test_weekly_cycle_does_not_alert_but_weekend_spike_does():
    rng = np.random.default_rng(2)
    dow = pd.date_range("2024-01-01", periods=364, freq="D").dayofweek.to_numpy()
    lam = np.where(dow >= 5, 20.0, 4.0)  # weekends five times busier
    Y = rng.poisson(lam, size=(30, 364))
    out = detect_spikes(_table(Y)).to_pandas()
    assert not out.alert.any()
    weekend = out.window_start.dt.dayofweek >= 5
    assert out.expected[weekend].mean() == pytest.approx(20, rel=0.1)
    assert out.expected[~weekend].mean() == pytest.approx(4, rel=0.1)
    assert out.dispersion.max() < 1.5
    # Without the weekday effect the cycle is mistaken for overdispersion.
    assert detect_spikes(_table(Y), weekly=False)["dispersion"].to_numpy().min() > 3
    Y[3, 200] += 30 if dow[200] >= 5 else 15
    al = _alerts(detect_spikes(_table(Y)))
    assert al.series_key.tolist() == ["s3"]


def test_trend_does_not_alert_at_the_end():
    rng = np.random.default_rng(3)
    lam = np.linspace(2, 30, 365)
    Y = rng.poisson(lam, size=(20, 365))
    assert not detect_spikes(_table(Y))["alert"].to_numpy().any()


def test_zeros_and_quiet_series_do_not_alarm_on_small_counts():
    Y = np.zeros((3, 60), dtype=int)
    Y[1, 30] = 2  # 0 -> 2
    Y[2, ::10] = 1
    Y[2, 45] = 3
    out = detect_spikes(_table(Y))
    assert not out["alert"].to_numpy().any()
    assert np.isfinite(out["expected"].to_numpy()).all()
    # the guard is what stops it: without guards the 0 -> 2 is significant
    loose = detect_spikes(_table(Y), min_observed=0, min_excess=0, min_ratio=0)
    assert ("s1", 30) in {(k, i % 60) for i, k in enumerate(loose["series_key"].to_pylist()) if loose["alert"][i].as_py()}


def test_missing_days_and_null_counts():
    rng = np.random.default_rng(4)
    Y = rng.poisson(5.0, size=(4, 90))
    Y[0, 50] += 30
    t = _table(Y).to_pandas()
    t = t.drop(index=t.index[(t.series_key == "s1") & (t.index % 7 == 0)])  # absent rows = zero
    t.loc[(t.series_key == "s2") & (t.period_start.dt.day == 15), "count"] = None  # outage
    tbl = pa.Table.from_pandas(t, preserve_index=False)
    out = detect_spikes(tbl, window=3)
    df = out.to_pandas()
    assert df.groupby("series_key").size().eq(88).all()
    s2 = df[df.series_key == "s2"]
    assert s2.p_value.isna().sum() == 3 * 3  # three outage days x three windows each
    assert not s2.alert[s2.p_value.isna()].any()
    assert set(_alerts(out).series_key) == {"s0"}


def test_hourly_with_daily_cycle():
    rng = np.random.default_rng(5)
    hours = pd.date_range("2024-01-01", periods=24 * 28, freq="h", tz="UTC")
    lam = 1 + 6 * (hours.hour.to_numpy() >= 9) * (hours.hour.to_numpy() < 18)
    Y = rng.poisson(lam, size=(10, len(hours)))
    assert not detect_spikes(_table(Y, freq="h"), freq="hour")["alert"].to_numpy().any()
    Y[4, 24 * 20 + 3] += 15  # 03:00, usually ~1
    al = _alerts(detect_spikes(_table(Y, freq="h"), freq="hour"))
    assert al.series_key.tolist() == ["s4"]
    assert al.window_start.iloc[0] == hours[24 * 20 + 3]


def test_tail_and_quantile_match_scipy():
    y = np.array([0, 1, 3, 8, 20.0])
    m = np.array([2.0, 0.5, 3, 4, 10])
    for phi in (1.0, 2.5):
        want = stats.poisson.sf(y - 1, m) if phi == 1 else stats.nbinom.sf(y - 1, m / (phi - 1), 1 / phi)
        np.testing.assert_allclose(nb_upper_tail(y, m, np.full(5, phi)), want, rtol=1e-10)
        for pr in (0.025, 0.975):
            want_q = stats.poisson.ppf(pr, m) if phi == 1 else stats.nbinom.ppf(pr, m / (phi - 1), 1 / phi)
            np.testing.assert_array_equal(nb_quantile(pr, m, np.full(5, phi)), want_q)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"freq": "week"}, "freq"), ({"window": 0}, "window"), ({"fdr_alpha": 1.5}, "fdr_alpha"), ({"key_col": "x"}, "column")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        detect_spikes(_table(np.ones((1, 10), dtype=int)), **kwargs)


def test_params_object_and_keywords_give_the_same_rows():
    rng = np.random.default_rng(5)
    Y = rng.poisson(6.0, size=(6, 90))
    Y[2, 40] += 25
    tbl = _table(Y)
    by_keywords = detect_spikes(tbl, window=2, fdr_alpha=0.1, min_observed=3)
    assert detect_spikes(tbl, SpikeParams(window=2, fdr_alpha=0.1, min_observed=3)).equals(by_keywords)
    # a keyword replaces the same field of the object
    assert detect_spikes(tbl, SpikeParams(window=5, fdr_alpha=0.1, min_observed=3), window=2).equals(by_keywords)
    assert detect_spikes(tbl).equals(detect_spikes(tbl, SpikeParams()))


def test_params_are_frozen_and_named():
    params = spike_params(window=3)
    assert params == SpikeParams(window=3) and params.to_dict()["window"] == 3
    with pytest.raises(AttributeError):
        params.window = 4  # type: ignore[misc]
    with pytest.raises(TypeError, match="windw"):
        detect_spikes(_table(np.ones((1, 10), dtype=int)), windw=3)


@pytest.mark.parametrize(("kwargs", "match"), [({"window": 0}, "window"), ({"window": 1.5}, "window"),
                                               ({"band_level": 1.0}, "band_level"), ({"fdr_alpha": 0}, "fdr_alpha")])
def test_bad_params_object(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpikeParams(**kwargs)


@pytest.mark.parametrize("outbreaks", [{27: 26}, {12: 26}, {26: 36, 27: 34}, {5: 20, 20: 30}])
def test_outbreaks_in_a_short_sparse_series_are_not_their_own_baseline(outbreaks):
    """28 days, zero but a few ones, then one or two days of 20-36: each outbreak alerts, nothing else.

    The robust rounds judge each day against the dispersion of the others and cap a downweighted
    day's share of the dispersion: weighted in whole, 26 on one day of mostly zeros set a dispersion
    near 29 and raised no alert (two on adjacent days masked each other)."""
    Y = np.zeros((1, 28), dtype=np.int64)
    Y[0, [3, 9, 16]] = 1
    for day, count in outbreaks.items():
        Y[0, day] = count
    al = _alerts(detect_spikes(_table(Y), trend=False))
    days = pd.date_range("2024-01-01", periods=28, freq="D", tz="UTC")
    assert sorted(al.window_start) == [days[d] for d in sorted(outbreaks)]
    assert al.q_value.max() < 1e-3


def test_short_overdispersed_series_without_outbreaks_rarely_alert():
    """Negative binomial days (variance three times the mean), 28 a series: the price of not letting an
    outbreak set its own dispersion is a few more alerts on ordinary high days; they stay rare."""
    rng = np.random.default_rng(0)
    lam = rng.uniform(1, 5, size=(200, 1)) * np.ones((1, 28))
    Y = rng.negative_binomial(lam / 2.0, 1 / 3.0)
    assert len(_alerts(detect_spikes(_table(Y), trend=False))) < 0.005 * Y.size
