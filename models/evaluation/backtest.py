"""Rolling-origin backtest of grid forecasters, and its plot."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.grid.cell_features import period_grid, resolve_cells, resolve_events
from models.evaluation.metrics import COVERAGES, hotspot_metrics, poisson_deviance, reliability_bins
from models.hotspots.base import GridForecaster, horizon_days, to_ns

METRICS = ("hit_rate", "pai", "pei", "pei_star")
#: Calibration of the expected counts, per period: mean Poisson deviance per cell (lower is better).
CALIBRATION = ("deviance",)
#: Scores that are not counts are rescaled to the mean count per period over this many days before the period.
TRAILING_DAYS = 365.0


@dataclass
class BacktestResult:
    """``periods``: one row per method, horizon, period and coverage; ``summary``: means and
    standard errors per method, horizon and coverage; ``timings``: fit and score seconds;
    ``reliability``: expected against observed counts per method, horizon and bin of expected count."""

    periods: pd.DataFrame
    summary: pd.DataFrame
    timings: pd.DataFrame
    reliability: pd.DataFrame | None = None


def summarise(periods: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error (sd / sqrt(n) over periods with incidents) of each metric."""
    g = periods.dropna(subset=["hit_rate"]).groupby(["method", "horizon", "coverage"], sort=True)
    measures = [*METRICS, *(c for c in CALIBRATION if c in periods.columns)]
    out = g[measures].mean().add_suffix("_mean")
    se = g[measures].std(ddof=1).div(np.sqrt(g.size()), axis=0).add_suffix("_se")
    return out.join(se).join(g.size().rename("n_periods")).reset_index()


def rolling_origin_backtest(
    incidents: pa.Table,
    cells: pa.Table,
    methods: Mapping[str, Callable[[str], GridForecaster]],
    *,
    start,
    end,
    horizons: Sequence[str] = ("W",),
    refit_every: int | None = None,
    coverages: Sequence[float] = COVERAGES,
    anchor=None,
    timezone: str = "UTC",
) -> BacktestResult:
    """Score every method on the same periods, with forecasts made only from earlier incidents.

    Parameters
    ----------
    incidents
        ``occurred_at`` (UTC) and ``h3`` (resolution >= the cells'), plus what methods read.
    cells
        Study-area cells (``h3``, ``area_km2``).
    methods
        ``{name: factory}``; ``factory(horizon)`` returns an unfitted forecaster.
    start, end
        Period starts run from ``start`` (the first origin) while ``<= end``.
    horizons
        Period lengths to evaluate ("W", "D", "8h"); the grid is anchored at ``start``
        unless ``anchor`` is given.
    timezone
        The clock of the period grid: periods start at the anchor's local wall-clock
        time in this zone all year (a day the clocks change lasts 23 or 25 hours).
    refit_every
        Refit each method every this many periods (``None``: once, at ``start``);
        between refits, later incidents are added with ``update`` and only those
        before each period start are used.
    coverages
        Area shares for the metrics.

    Notes
    -----
    Rolling-origin evaluation (Tashman 2000, Int. J. Forecasting 16); metrics in
    :mod:`models.evaluation.metrics`. Calibration: each method's expected counts
    (:func:`expected_counts`) give a mean Poisson deviance per period and, pooled
    over periods, a reliability table (:func:`models.evaluation.metrics.reliability_bins`).
    """
    grid = resolve_cells(cells)
    ev = resolve_events(incidents, grid)
    tie = grid.index
    ts = incidents.column("occurred_at")
    t_sorted = np.sort(ev.t_ns)
    rows, timing, reliability = [], [], []
    for horizon in horizons:
        pg = period_grid(horizon, anchor if anchor is not None else start, timezone)
        p0 = int(pg.index_of(np.array([to_ns(start)]))[0])
        p1 = int(pg.index_of(np.array([to_ns(end)]))[0])
        if int(pg.start_ns(p0)) < to_ns(start):
            p0 += 1
        if p1 < p0:
            raise ValueError(f"no period of {horizon!r} starts between {start} and {end}")
        pids = np.arange(p0, p1 + 1)
        starts_ns = pg.start_ns(pids)
        pe = pg.index_of(ev.t_ns)
        sel = (pe >= p0) & (pe <= p1)
        Y = np.zeros((len(pids), len(grid)))
        np.add.at(Y, (pe[sel] - p0, ev.cell[sel]), 1.0)
        block = len(pids) if refit_every is None else int(refit_every)
        if block < 1:
            raise ValueError(f"refit_every must be >= 1, got {refit_every}")
        for name, factory in methods.items():
            fit_s = score_s = 0.0
            pooled = []
            for b0 in range(0, len(pids), block):
                b1 = min(b0 + block, len(pids))
                origin = pd.Timestamp(int(starts_ns[b0]), tz="UTC")
                block_end = pd.Timestamp(int(starts_ns[b1 - 1]), tz="UTC")
                model = factory(horizon)
                t = time.perf_counter()
                model.fit(incidents, cells, origin=origin)
                fit_s += time.perf_counter() - t
                later = pc_between(incidents, ts, origin, block_end)
                t = time.perf_counter()
                if later.num_rows:
                    model.update(later)
                starts = [pd.Timestamp(int(s), tz="UTC") for s in starts_ns[b0:b1]]
                S = model.predict_many(starts, horizon)
                score_s += time.perf_counter() - t
                for k, s in enumerate(starts):
                    m = hotspot_metrics(S[k], Y[b0 + k], grid.area_km2, coverages, tie_key=tie)
                    mu = expected_counts(model, S[k], int(starts_ns[b0 + k]), t_sorted, horizon)
                    pooled.append((mu, Y[b0 + k]))
                    m["deviance"] = poisson_deviance(mu, Y[b0 + k])
                    m["expected_total"] = float(mu.sum())
                    m["observed_total"] = float(Y[b0 + k].sum())
                    m.insert(0, "period_start", s)
                    m.insert(0, "horizon", horizon)
                    m.insert(0, "method", name)
                    rows.append(m)
            rel = reliability_bins(np.concatenate([p[0] for p in pooled]), np.concatenate([p[1] for p in pooled]))
            reliability.append(rel.assign(method=name, horizon=horizon))
            timing.append({"method": name, "horizon": horizon, "fit_s": fit_s, "score_s": score_s,
                           "score_ms_per_period": 1000 * score_s / len(pids), "n_periods": len(pids)})
    periods = pd.concat(rows, ignore_index=True)
    return BacktestResult(periods=periods, summary=summarise(periods), timings=pd.DataFrame(timing),
                          reliability=pd.concat(reliability, ignore_index=True))


def expected_counts(model, scores: np.ndarray, start_ns: int, t_sorted_ns: np.ndarray, horizon) -> np.ndarray:
    """Expected count per cell for the period starting at ``start_ns``.

    A method whose scores are expected counts (``predicts_counts = True``: the
    learned Poisson model, the self-exciting process) keeps them. Any other
    score (a density, a weighted count) is rescaled so that the cells sum to the
    mean count per period over the :data:`TRAILING_DAYS` before the period
    (fewer when the history is shorter): its ranking, and so every hotspot
    metric, is unchanged, and the deviance measures its spatial calibration.
    ``t_sorted_ns``: the study area's event times, sorted.
    """
    s = np.clip(np.asarray(scores, dtype=float), 0.0, None)
    if model.predicts_counts:
        return s
    lo = start_ns - int(TRAILING_DAYS * 86_400e9)
    first = int(t_sorted_ns[0]) if len(t_sorted_ns) else start_ns
    span_days = (start_ns - max(first, lo)) / 86_400e9
    n = np.searchsorted(t_sorted_ns, start_ns) - np.searchsorted(t_sorted_ns, lo)
    total = n * horizon_days(horizon) / span_days if span_days > 0 else 0.0
    return s * (total / s.sum()) if s.sum() > 0 else np.full_like(s, total / max(len(s), 1))


def pc_between(table: pa.Table, ts, lo: pd.Timestamp, hi: pd.Timestamp) -> pa.Table:
    """Rows with ``lo <= occurred_at < hi``."""
    import pyarrow.compute as pc

    lo_s = pa.scalar(lo, ts.type)
    hi_s = pa.scalar(hi, ts.type)
    return table.filter(pc.and_(pc.greater_equal(ts, lo_s), pc.less(ts, hi_s)))


def plot_backtest(summary: pd.DataFrame, metric: str = "pai"):
    """Metric against coverage per method (error bars: one standard error); one panel per horizon.

    Returns a ``matplotlib.figure.Figure`` (nothing is shown or saved).
    """
    from matplotlib.figure import Figure

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    horizons = list(dict.fromkeys(summary["horizon"]))
    fig = Figure(figsize=(5 * max(1, len(horizons)), 4), layout="constrained")
    axes = fig.subplots(1, max(1, len(horizons)), squeeze=False)[0]
    for ax, h in zip(axes, horizons):
        sub = summary[summary["horizon"] == h]
        for name, g in sub.groupby("method", sort=True):
            g = g.sort_values("coverage")
            ax.errorbar(100 * g["coverage"], g[f"{metric}_mean"], yerr=g[f"{metric}_se"], marker="o", capsize=3, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("area flagged (%)")
        ax.set_ylabel(metric.upper() if metric != "hit_rate" else "hit rate")
        ax.set_title(f"horizon {h}")
        ax.legend()
    return fig


def plot_reliability(reliability: pd.DataFrame):
    """Mean observed against mean expected count per bin, per method, log-log with the diagonal; a panel per horizon.

    ``reliability`` is :attr:`BacktestResult.reliability`. Error bars: one
    standard error of the observed mean. Bins whose observed mean is 0 cannot be
    drawn on a log axis and are left out. Returns a ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    horizons = list(dict.fromkeys(reliability["horizon"]))
    fig = Figure(figsize=(5 * max(1, len(horizons)), 4.5), layout="constrained")
    axes = fig.subplots(1, max(1, len(horizons)), squeeze=False)[0]
    for ax, h in zip(axes, horizons):
        sub = reliability[(reliability["horizon"] == h) & (reliability["observed_mean"] > 0)
                          & (reliability["expected_mean"] > 0)]
        for name, g in sub.groupby("method", sort=True):
            ax.errorbar(g["expected_mean"], g["observed_mean"], yerr=g["observed_se"], marker="o", ms=4,
                        capsize=2, label=name)
        if len(sub):
            lo = min(sub["expected_mean"].min(), sub["observed_mean"].min())
            hi = max(sub["expected_mean"].max(), sub["observed_mean"].max())
            ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1, label="calibrated")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("expected count per cell and period (bin mean)")
        ax.set_ylabel("observed count (bin mean)")
        ax.set_title(f"reliability, horizon {h}")
        ax.legend(fontsize=8)
    return fig
