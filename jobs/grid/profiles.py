"""Per-cell time profiles for sub-weekly forecasts: each cell's share of its crime in a period's slot.

A day's or a shift's expected count in a cell is its weekly rate split over the week's
periods, but not evenly: a nightlife block peaks on Saturday nights, a school on weekday
afternoons. :func:`slot_multipliers` estimates, for every scored period and cell, the cell's
share of its last year's incidents that fell in the same slot of the cycle (day of the week;
shift of the day or of the week), shrunk toward the study area's share with a prior weight of
``prior`` incidents (Dirichlet-multinomial smoothing, as :func:`jobs.grid.patrol.shift_profile`
and Ratcliffe 2004, "The Hotspot Matrix"), times the cycle's length, so that a cell that looks
like the whole area gets 1. Each period's profile reads only incidents of earlier periods.

:func:`choose_profile` picks the cycle and the prior on time-ordered validation periods, or no
profile at all when none ranks the validation periods better: a wrong profile costs accuracy, so
it has to earn its place before each origin, by more than its standard error over those periods
(docs/forecasting.md, "Time profiles").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from jobs.stats import Margin, paired_margin

#: Prior weights (incidents of the area's profile added to each cell's) that :func:`choose_profile` tries.
PRIORS: tuple[float, ...] = (10.0, 30.0, 100.0, 300.0, 1000.0)


def profile_cycles(periods_per_week: int, periods_per_day: float) -> tuple[int, ...]:
    """Cycles a period grid can have a profile over: the periods of a day (when more than one) and of a week.

    Days: ``(7,)`` (day of the week); 8-hour shifts: ``(3, 21)`` (shift of the day, shift of the
    week); weeks: ``()``.
    """
    out = []
    if periods_per_day > 1 and abs(periods_per_day - round(periods_per_day)) < 1e-9:
        out.append(int(round(periods_per_day)))
    if periods_per_week > 1 and periods_per_week not in out:
        out.append(periods_per_week)
    return tuple(out)


def slot_multipliers(cell: np.ndarray, period: np.ndarray, n_cells: int, scored: Sequence[int], *,
                     cycle: int, window: int, prior: float, cutoff: Sequence[int] | None = None) -> np.ndarray:
    """``(len(scored), n_cells)`` multipliers of each scored period's slot per cell.

    Parameters
    ----------
    cell, period
        Each incident's cell position and period index on the forecast's grid.
    scored
        Period indices to profile; each reads only incidents of the ``window`` periods before it.
    cycle
        Periods per cycle; the slot of period ``p`` is ``p mod cycle``.
    window
        Periods of history, a whole number of cycles.
    prior
        Weight, in incidents, of the area's profile in each cell's (> 0).
    cutoff
        Per scored period, the first period not read (default: the period itself); a plan made
        before a week reads only incidents before the week for each of its periods.
    """
    if cycle < 2:
        raise ValueError(f"a profile needs a cycle of at least 2 periods, got {cycle}")
    if window < cycle or window % cycle:
        raise ValueError(f"the profile window ({window} periods) must be a whole number of {cycle}-period cycles")
    if not prior > 0:
        raise ValueError(f"the profile prior must be positive, got {prior}")
    scored = np.asarray(scored, dtype=np.int64)
    if scored.size == 0:
        return np.ones((0, n_cells))
    cut = scored if cutoff is None else np.asarray(cutoff, dtype=np.int64)
    if cut.shape != scored.shape:
        raise ValueError(f"cutoff needs one period per scored period ({scored.size}), got {cut.size}")
    if np.any(cut > scored):
        raise ValueError("a cutoff after its scored period would read the period's own incidents")
    lo = int(cut.min()) - window - cycle  # one cycle of padding before the first window
    hi = int(cut.max())
    keep = (period >= lo) & (period < hi)
    C = np.zeros((n_cells, hi - lo), dtype=np.float64)
    np.add.at(C, (cell[keep], period[keep] - lo), 1.0)
    S = np.concatenate([np.zeros((n_cells, 1)), np.cumsum(C, axis=1)], axis=1)  # S[:, j] = sum C[:, :j]
    R = C.copy()  # R[:, j] = C[:, j] + C[:, j - cycle] + ...
    for j in range(cycle, R.shape[1]):
        R[:, j] += R[:, j - cycle]
    j = cut - lo
    total = S[:, j] - S[:, j - window]  # periods [cut - window, cut)
    last = j - 1 - (cut - 1 - scored) % cycle  # the last period of the scored period's slot before cut
    same = R[:, last] - R[:, last - window]  # that one and the ones a cycle apart, back to cut - window
    area = same.sum(axis=0) / np.maximum(total.sum(axis=0), 1.0)
    area = np.where(total.sum(axis=0) > 0, area, 1.0 / cycle)
    share = (same + prior * area[None, :]) / (total + prior)
    return (share * cycle).T


def period_hit_rates(score: np.ndarray, y: np.ndarray, coverage: float) -> np.ndarray:
    """Per period (row): the share of its incidents in its top ``coverage`` of cells; NaN where it has none."""
    k = max(1, int(round(coverage * score.shape[1])))
    top = np.argpartition(-score, k - 1, axis=1)[:, :k] if k < score.shape[1] else np.argsort(-score, axis=1)
    caught = np.take_along_axis(y, top, axis=1).sum(axis=1)
    total = y.sum(axis=1)
    return np.where(total > 0, caught / np.where(total > 0, total, 1.0), np.nan)


def mean_hit_rate(score: np.ndarray, y: np.ndarray, coverage: float) -> float:
    """Mean over periods (rows) with incidents of the share of them in the top ``coverage`` of cells."""
    rates = period_hit_rates(score, y, coverage)
    return float(np.nanmean(rates)) if np.isfinite(rates).any() else float("nan")


def period_deviances(mu: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per period (row): the mean Poisson deviance of its cells."""
    mu = np.maximum(mu, 1e-12)
    return 2 * np.mean(np.where(y > 0, y * np.log(np.maximum(y, 1e-12) / mu), 0.0) - (y - mu), axis=1)


def pick_by_margin(margins: Sequence[Margin]) -> int | None:
    """Index of the largest margin among those that beat the reference (:attr:`jobs.stats.Margin.beats`:
    by more than their paired standard error, the champion gate's rule), so that noise on a few periods
    does not pick a candidate; ``None`` if none does."""
    ok = [i for i, m in enumerate(margins) if m.beats]
    return max(ok, key=lambda i: (margins[i].mean, -i)) if ok else None


def choose_profile(pred: np.ndarray, y: np.ndarray, cell: np.ndarray, period: np.ndarray, scored: Sequence[int], *,
                   cycles: Sequence[int], window: int, coverage: float,
                   priors: Sequence[float] = PRIORS, criterion: str = "hit_rate") -> tuple[dict | None, pd.DataFrame]:
    """The profile (``{"cycle", "prior", "window"}``) that best ranks the validation periods, or ``None``.

    ``pred`` and ``y`` are ``(len(scored), n_cells)``: the model's expected counts and the counts
    of the validation periods ``scored``. Each candidate multiplies ``pred`` by its slot multipliers
    and is scored per period by ``criterion`` (``"hit_rate"``: the share of the period's incidents in
    its top ``coverage`` of cells, what the forecast is judged on; ``"deviance"``: the Poisson
    deviance). A candidate qualifies when its mean paired gain over no profile exceeds the gain's
    standard error (:func:`pick_by_margin`); the qualifying one with the largest gain wins, else none.
    Returns the choice and every candidate's scores (``cycle``, ``prior``, ``hit_rate``,
    ``deviance``, ``gain``, ``gain_se``; no profile has cycle 0).
    """
    if criterion not in ("hit_rate", "deviance"):
        raise ValueError(f"criterion must be 'hit_rate' or 'deviance', got {criterion!r}")

    def per_period(mu):
        return period_hit_rates(mu, y, coverage) if criterion == "hit_rate" else period_deviances(mu, y)

    margins: list[Margin] = []

    def row(c, m, mu, ref):
        own = per_period(mu)
        margin = paired_margin(own, ref) if criterion == "hit_rate" else paired_margin(ref, own)  # lower deviance wins
        margins.append(margin)
        return {"cycle": c, "prior": m, "hit_rate": mean_hit_rate(mu, y, coverage),
                "deviance": float(np.mean(period_deviances(mu, y))), "gain": margin.mean, "gain_se": margin.se}

    ref = per_period(pred)
    rows = [row(0, np.inf, pred, ref)]
    for c in cycles:
        w = window - window % c
        if w < c:
            continue
        for m in priors:
            mult = slot_multipliers(cell, period, pred.shape[1], scored, cycle=c, window=w, prior=m)
            rows.append(row(int(c), float(m), pred * mult, ref))
    table = pd.DataFrame(rows)
    best = pick_by_margin(margins[1:])
    if best is None:
        return None, table
    c = int(rows[best + 1]["cycle"])
    return {"cycle": c, "prior": float(rows[best + 1]["prior"]), "window": window - window % c}, table
