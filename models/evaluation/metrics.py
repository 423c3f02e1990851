"""Area-based accuracy of hotspot forecasts: hit rate, PAI, PEI and PEI*."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Shares of the study area flagged, as the field reports them.
COVERAGES: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05)


def flag_top_cells(scores: np.ndarray, areas: np.ndarray, coverage: float, tie_key: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the highest-scoring cells whose total area is at most ``coverage`` of the whole.

    Cells are taken in descending score; equal scores are ordered by ``tie_key``
    ascending (default: position), so the result is deterministic. Taking stops
    at the first cell that would exceed the area budget.
    """
    scores = np.asarray(scores, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    if scores.shape != areas.shape:
        raise ValueError(f"scores {scores.shape} and areas {areas.shape} must have the same shape")
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    if np.any(~np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinite values")
    key = np.arange(len(scores)) if tie_key is None else np.asarray(tie_key)
    order = np.lexsort((key, -scores))
    budget = coverage * areas.sum() * (1 + 1e-12)
    n_take = int(np.searchsorted(np.cumsum(areas[order]), budget, side="right"))
    mask = np.zeros(len(scores), dtype=bool)
    mask[order[:n_take]] = True
    return mask


def _max_capture(counts: np.ndarray, areas: np.ndarray, area_budget: float) -> float:
    """Most incidents any set of cells within ``area_budget`` holds (greedy by count)."""
    order = np.lexsort((areas, -counts))
    take = np.searchsorted(np.cumsum(areas[order]), area_budget * (1 + 1e-12), side="right")
    return float(counts[order[:take]].sum())


def _min_area(counts: np.ndarray, areas: np.ndarray, n: float) -> float:
    """Smallest area whose cells hold at least ``n`` incidents (greedy by density)."""
    if n <= 0:
        return 0.0
    order = np.lexsort((areas, -(counts / areas)))
    cum = np.cumsum(counts[order])
    k = int(np.searchsorted(cum, n, side="left"))
    return float(np.cumsum(areas[order])[min(k, len(order) - 1)])


def hotspot_metrics(
    scores: np.ndarray,
    counts: np.ndarray,
    areas: np.ndarray,
    coverages: Sequence[float] = COVERAGES,
    tie_key: np.ndarray | None = None,
) -> pd.DataFrame:
    """Hit rate, PAI, PEI and PEI* of one period's forecast at each coverage.

    Parameters
    ----------
    scores
        Forecast score per cell (higher = riskier).
    counts
        Incidents observed per cell in the forecast period.
    areas
        Cell areas (any unit).
    coverages
        Shares of the total area to flag.
    tie_key
        Tie-breaker for equal scores (ascending), e.g. the cells' H3 indexes.

    Returns
    -------
    pandas.DataFrame
        One row per coverage: ``coverage``, ``area_share`` (actually flagged),
        ``n_flagged``, ``n_crimes``, ``captured``, ``hit_rate``, ``pai``, ``pei``,
        ``pei_star``. Hit rate and the indices are NaN for a period with no
        incidents; PAI is NaN when no cell fits the budget.

    Notes
    -----
    - Hit rate = captured / all incidents; PAI = hit rate / area share
      (Chainey, Tompson and Uhlig 2008).
    - PEI = captured / the most incidents any cells of the flagged area could
      have captured (Hunt 2016, NIJ Real-Time Crime Forecasting Challenge).
    - PEI* = PAI / PAI*, with PAI* the PAI of the smallest area holding the same
      number of incidents as captured, which reduces to that minimal area over
      the flagged area (White, Hunt and Green 2023, Security Journal).
    Both optima are taken greedily (by count, by count per area), which is exact
    for equal-area cells, as H3 cells of one resolution nearly are.
    """
    scores = np.asarray(scores, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    if not (scores.shape == counts.shape == areas.shape):
        raise ValueError(f"scores {scores.shape}, counts {counts.shape} and areas {areas.shape} must align")
    if np.any(areas <= 0):
        raise ValueError("areas must be positive")
    total_area = areas.sum()
    n = counts.sum()
    rows = []
    for c in coverages:
        mask = flag_top_cells(scores, areas, c, tie_key)
        a = areas[mask].sum()
        captured = counts[mask].sum()
        share = a / total_area
        hit = captured / n if n > 0 else np.nan
        pai = hit / share if share > 0 else np.nan
        best = _max_capture(counts, areas, a)
        pei = captured / best if best > 0 else np.nan
        pei_star = (_min_area(counts, areas, captured) / a if a > 0 else np.nan) if n > 0 else np.nan
        rows.append(
            dict(coverage=c, area_share=share, n_flagged=int(mask.sum()), n_crimes=n, captured=captured,
                 hit_rate=hit, pai=pai, pei=pei, pei_star=pei_star)
        )
    return pd.DataFrame(rows)


def gap_closed(score: float, trailing: float, bound: float) -> float:
    """Share of the gap between trailing counts and a bound that a method's score closes.

    ``(score - trailing) / (bound - trailing)``: 0 for a method no better than a
    year of trailing counts, 1 for one that reaches the bound (e.g. the
    stationary oracle, a forecast that knows the test span's own mean counts),
    negative for one worse than trailing counts. NaN when the bound does not lie
    above the trailing counts (there is no gap to close) or an input is not finite.
    """
    values = np.array([score, trailing, bound], dtype=float)
    if not np.isfinite(values).all() or bound <= trailing:
        return float("nan")
    return float((score - trailing) / (bound - trailing))


#: Expected counts are floored here before the log: a cell forecast at exactly zero that sees a crime
#: costs ``2 y log(y / 1e-6)`` (about 28 for one crime), not an infinite deviance.
MIN_EXPECTED = 1e-6


def poisson_deviance(expected: np.ndarray, counts: np.ndarray) -> float:
    """Mean Poisson deviance per cell, ``2 mean(y log(y / mu) - (y - mu))`` (``y log y = 0`` at ``y = 0``).

    The proper scoring rule for expected counts (McCullagh & Nelder 1989, s. 2.3):
    0 for a perfect forecast, lower is better; ``mu`` is floored at
    :data:`MIN_EXPECTED`.
    """
    mu = np.maximum(np.asarray(expected, dtype=float), MIN_EXPECTED)
    y = np.asarray(counts, dtype=float)
    if mu.shape != y.shape:
        raise ValueError(f"expected {mu.shape} and counts {y.shape} must align")
    if np.any(y < 0) or not np.isfinite(mu).all():
        raise ValueError("counts must be >= 0 and expected counts finite")
    ratio = np.where(y > 0, y / mu, 1.0)
    return float(2.0 * np.mean(y * np.log(ratio) - (y - mu)))


def reliability_bins(expected: np.ndarray, counts: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Mean expected against mean observed count in bins of equal size by expected count (a reliability table).

    Bins are quantiles of ``expected`` (ties merge bins, so there may be fewer
    than ``n_bins``); each row has ``expected_mean``, ``observed_mean``,
    ``observed_se`` (standard error of the observed mean) and ``n`` cell-periods.
    A calibrated forecast lies on the diagonal.
    """
    mu = np.asarray(expected, dtype=float)
    y = np.asarray(counts, dtype=float)
    if mu.shape != y.shape or mu.ndim != 1:
        raise ValueError(f"expected {mu.shape} and counts {y.shape} must be aligned 1-d arrays")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    cols = ["bin", "expected_mean", "observed_mean", "observed_se", "n"]
    if len(mu) == 0:
        return pd.DataFrame(columns=cols)
    edges = np.unique(np.quantile(mu, np.linspace(0, 1, n_bins + 1)))
    b = np.clip(np.searchsorted(edges, mu, side="right") - 1, 0, max(len(edges) - 2, 0))
    df = pd.DataFrame({"bin": b, "mu": mu, "y": y})
    g = df.groupby("bin", sort=True)
    out = pd.DataFrame({"expected_mean": g["mu"].mean(), "observed_mean": g["y"].mean(),
                        "observed_se": g["y"].std(ddof=1).fillna(0.0) / np.sqrt(g.size()), "n": g.size()})
    return out.reset_index()[cols]
