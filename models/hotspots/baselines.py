"""Baseline hotspot forecasters over H3 cells: naive counts, retrospective KDE,
prospective hotspotting and a self-exciting point process (Mohler et al. 2015)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from jobs.grid.cells import grid_weights, quartic_weights
from models.hotspots.base import GridForecaster


class NaiveCounts(GridForecaster):
    """Count of incidents per cell over a trailing window.

    Parameters
    ----------
    window_days
        Length of the trailing window before the period start (``None``: all history).

    Notes
    -----
    The "last period/last year" benchmark of the hotspot literature, e.g.
    Chainey, Tompson and Uhlig (2008), "The utility of hotspot mapping for
    predicting spatial patterns of crime", Security Journal 21.
    """

    def __init__(self, window_days: float | None = 365.0):
        self.window_days = window_days

    def _score(self, start_days: float, horizon_days: float) -> np.ndarray:
        sl = self._window(start_days, self.window_days)
        return np.bincount(self.events_.cell[sl], minlength=len(self.grid_)).astype(np.float64)


class RetrospectiveKDE(GridForecaster):
    """Quartic kernel density of the trailing window's incidents, on cell centroids.

    Parameters
    ----------
    bandwidth_m
        Kernel bandwidth in metres (between cell centroids).
    window_days
        Trailing window of incidents before the period start.

    Notes
    -----
    Retrospective hotspotting as in open_cp (``open_cp.retrohotspot``, quartic
    kernel) and CrimeStat; each incident sits at its cell's centroid, so the
    score is ``sum_j K(|c - c_j|) n_j`` with ``K(d) = (1 - (d/h)^2)^2`` for
    ``d < h``.
    """

    def __init__(self, bandwidth_m: float = 400.0, window_days: float | None = 365.0):
        self.bandwidth_m = bandwidth_m
        self.window_days = window_days

    def _fit(self) -> None:
        self.kernel_ = quartic_weights(self.grid_.xy, self.bandwidth_m)

    def _score(self, start_days: float, horizon_days: float) -> np.ndarray:
        sl = self._window(start_days, self.window_days)
        counts = np.bincount(self.events_.cell[sl], minlength=len(self.grid_)).astype(np.float64)
        return self.kernel_ @ counts


class ProspectiveHotspot(GridForecaster):
    """Prospective hotspotting: space-time weights ``1/(1+d) x 1/(1+w)``.

    Parameters
    ----------
    bandwidth_cells
        Spatial bandwidth as H3 grid distance ``d`` (cells); farther incidents weigh 0.
    bandwidth_weeks
        Temporal bandwidth: incidents ``w`` whole weeks before the period start weigh
        ``1/(1+w)`` for ``w < bandwidth_weeks``, else 0.

    Notes
    -----
    Bowers, Johnson and Pease (2004), "Prospective hot-spotting: the future of
    crime mapping?", British Journal of Criminology 44(5), with distances in
    grid cells as in their 50 m grid; open_cp ``prohotspot`` implements the same
    weights.
    """

    def __init__(self, bandwidth_cells: int = 3, bandwidth_weeks: int = 8):
        self.bandwidth_cells = bandwidth_cells
        self.bandwidth_weeks = bandwidth_weeks

    def _fit(self) -> None:
        if self.bandwidth_cells < 0 or self.bandwidth_weeks < 1:
            raise ValueError("bandwidth_cells must be >= 0 and bandwidth_weeks >= 1")
        self.space_ = grid_weights(self.grid_.index, int(self.bandwidth_cells), kind="inverse")

    def _score(self, start_days: float, horizon_days: float) -> np.ndarray:
        sl = self._window(start_days, 7.0 * self.bandwidth_weeks)
        weeks = np.floor((start_days - self.t_days_[sl]) / 7.0)
        w = 1.0 / (1.0 + weeks)
        v = np.bincount(self.events_.cell[sl], weights=w, minlength=len(self.grid_))
        return self.space_ @ v


class SelfExcitingGrid(GridForecaster):
    """Self-exciting point process per grid cell, fitted by expectation-maximisation.

    Intensity in cell ``n``: ``lambda_n(t) = mu_n + sum_{t_i < t} theta * omega * exp(-omega (t - t_i))``
    over earlier events ``i`` of the same cell (time in days).

    Parameters
    ----------
    window_days
        Training window before the last event (``None``: every event given to ``fit``).
    cutoff_days
        Triggering pairs (and scoring contributions) further apart than this are dropped.
    theta0, omega0
        Starting values (``omega`` per day).
    max_iter, tol
        EM stops when the largest relative change of ``theta``, ``omega`` and the
        ``mu`` vector is below ``tol``, or after ``max_iter`` iterations with a
        ``ConvergenceWarning``.

    Attributes
    ----------
    mu_, theta_, omega_, n_iter_, converged_

    Notes
    -----
    Mohler, Short, Malinowski, Johnson, Tita, Bertozzi and Brantingham (2015),
    "Randomized controlled field trials of predictive policing", JASA 110(512),
    Section 3 and the EM algorithm of their appendix (the ETAS-type model behind
    PredPol). The M-step uses the boundary-corrected
    ``theta = sum p_ij / sum_i (1 - exp(-omega (T - t_i)))``. The score of a period
    ``[s, s+h)`` is the expected count ``mu_n h + theta sum_i (exp(-omega (s - t_i)) -
    exp(-omega (s + h - t_i)))``.
    """

    #: Its score of a period is the expected count (the backtest's calibration uses it as is).
    predicts_counts = True

    def __init__(
        self,
        window_days: float | None = None,
        cutoff_days: float = 365.0,
        theta0: float = 0.1,
        omega0: float = 0.1,
        max_iter: int = 200,
        tol: float = 1e-5,
    ):
        self.window_days = window_days
        self.cutoff_days = cutoff_days
        self.theta0 = theta0
        self.omega0 = omega0
        self.max_iter = max_iter
        self.tol = tol

    def _fit(self) -> None:
        if not (self.theta0 > 0 and self.omega0 > 0 and self.cutoff_days > 0):
            raise ValueError("theta0, omega0 and cutoff_days must be > 0")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        n_cells = len(self.grid_)
        t_all = self.t_days_
        cell_all = self.events_.cell
        if len(t_all) == 0:
            raise ValueError("SelfExcitingGrid needs at least one event to fit")
        t_end = t_all[-1]
        keep = np.ones(len(t_all), bool) if self.window_days is None else t_all >= t_end - self.window_days
        t, cell = t_all[keep], cell_all[keep]
        t0 = t[0]
        span = max(t_end - t0, 1.0)
        # Sort by (cell, time) so same-cell predecessors are at smaller lags.
        order = np.lexsort((t, cell))
        ts, cs = t[order], cell[order]
        ii, jj = [], []
        m = 1
        while m < len(ts):
            same = (cs[m:] == cs[:-m]) & (ts[m:] - ts[:-m] <= self.cutoff_days)
            if not same.any():
                break
            j = np.nonzero(same)[0] + m
            ii.append(j - m)
            jj.append(j)
            m += 1
        pi = np.concatenate(ii) if ii else np.zeros(0, np.int64)
        pj = np.concatenate(jj) if jj else np.zeros(0, np.int64)
        dt = ts[pj] - ts[pi]
        tail = ts  # events for the boundary term
        n = len(ts)
        theta, omega = float(self.theta0), float(self.omega0)
        counts = np.bincount(cs, minlength=n_cells).astype(np.float64)
        mu = counts / span * 0.5
        converged = False
        it = 0
        for it in range(1, int(self.max_iter) + 1):
            g = theta * omega * np.exp(-omega * dt)
            lam = mu[cs] + np.bincount(pj, weights=g, minlength=n)
            lam = np.where(lam > 0, lam, 1e-300)
            p_trig = g / lam[pj]
            p_bg = mu[cs] / lam
            s_trig = p_trig.sum()
            s_dt = (p_trig * dt).sum()
            new_omega = s_trig / s_dt if s_dt > 0 else omega
            new_omega = float(np.clip(new_omega, 1e-6, 1e3))
            denom = np.sum(1.0 - np.exp(-new_omega * (t_end - tail)))
            new_theta = float(np.clip(s_trig / denom if denom > 0 else 0.0, 0.0, 0.999))
            new_mu = np.bincount(cs, weights=p_bg, minlength=n_cells) / span
            change = max(
                abs(new_theta - theta) / max(theta, 1e-12),
                abs(new_omega - omega) / max(omega, 1e-12),
                float(np.max(np.abs(new_mu - mu)) / max(float(np.max(mu)), 1e-12)),
            )
            theta, omega, mu = new_theta, new_omega, new_mu
            if change < self.tol:
                converged = True
                break
        if not converged:
            warnings.warn(
                f"SelfExcitingGrid EM did not converge in {self.max_iter} iterations "
                f"(last relative change above tol={self.tol}); raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.mu_, self.theta_, self.omega_ = mu, theta, omega
        self.n_iter_, self.converged_ = it, converged
        self.n_pairs_ = len(pi)

    def _score(self, start_days: float, horizon_days: float) -> np.ndarray:
        sl = self._window(start_days, self.cutoff_days)
        age = start_days - self.t_days_[sl]
        contrib = self.theta_ * (np.exp(-self.omega_ * age) - np.exp(-self.omega_ * (age + horizon_days)))
        trig = np.bincount(self.events_.cell[sl], weights=contrib, minlength=len(self.grid_))
        return self.mu_ * horizon_days + trig


#: Baselines by name, as ``forecast_periods`` and the backtest select them.
BASELINES = {
    "naive": NaiveCounts,
    "kde": RetrospectiveKDE,
    "prospective": ProspectiveHotspot,
    "sepp": SelfExcitingGrid,
}
