"""Common shape of every grid forecaster: ``fit(events, cells)`` then ``predict(period_start, horizon)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.base import BaseEstimator

from jobs.grid.cell_features import FREQS, Events, GridCells, resolve_cells, resolve_events

NS_PER_DAY = 86_400 * 10**9


def horizon_days(horizon: str | pd.Timedelta) -> float:
    """Length of a forecast horizon in days ("W", "D", "8h" or a Timedelta)."""
    if isinstance(horizon, str):
        if horizon not in FREQS:
            raise ValueError(f"horizon must be one of {sorted(FREQS)} or a pandas Timedelta, got {horizon!r}")
        td = FREQS[horizon]
    elif isinstance(horizon, pd.Timedelta):
        td = horizon
    else:
        raise TypeError(f"horizon must be a string or pandas Timedelta, got {type(horizon).__name__}")
    if td <= pd.Timedelta(0):
        raise ValueError(f"horizon must be positive, got {td}")
    return td.value / NS_PER_DAY


def to_ns(ts) -> int:
    """A timestamp (naive = UTC) as int nanoseconds since 1970-01-01 UTC."""
    t = pd.Timestamp(ts)
    if t is pd.NaT:
        raise ValueError(f"not a valid timestamp: {ts!r}")
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return int(t.value)


def to_days(ts) -> float:
    """A timestamp (naive = UTC) as float days since 1970-01-01 UTC."""
    return to_ns(ts) / NS_PER_DAY


class GridForecaster(BaseEstimator):
    """Base class: stores the grid and event history; subclasses score cells.

    ``fit`` learns parameters from the events it is given (all of which should
    precede the forecast origin). ``update`` appends later events without
    refitting. ``predict`` uses only stored events strictly before
    ``period_start``, so one fitted model can score a run of periods without
    leakage.
    """

    #: Whether a period's score is its expected count (a subclass that predicts counts says so); the
    #: backtest's calibration rescales the scores of those that do not (models/evaluation/backtest.py).
    predicts_counts = False

    def fit(self, events: pa.Table, cells: pa.Table | pa.Array | Sequence[str], origin=None) -> "GridForecaster":
        """Resolve ``cells`` and ``events`` (``occurred_at``, ``h3``) and fit the method's parameters.

        ``origin`` (optional timestamp): events at or after it are ignored, so a
        caller can pass the whole table and fit as of the origin.
        """
        grid = resolve_cells(cells)
        return self.fit_events(grid, resolve_events(events, grid), origin)

    def fit_events(self, grid: GridCells, ev: Events, origin=None) -> "GridForecaster":
        """:meth:`fit` on a grid and events already resolved: any grid of cells with centroids and areas (a
        square grid too, for the grid-sensitivity check), for methods that read only cell positions,
        centroids and times (not the learned model, whose features are built from the incidents table)."""
        self.grid_: GridCells = grid
        if origin is not None:
            keep = ev.t_ns < to_ns(origin)
            ev = Events(
                ev.cell[keep], ev.t_ns[keep], None if ev.xy is None else ev.xy[keep],
                None if ev.category is None else ev.category[keep],
                None if ev.location_type is None else ev.location_type[keep],
            )
        self.origin_ = origin
        self._set_events(ev)
        self._fit()
        return self

    def update(self, events: pa.Table) -> "GridForecaster":
        """Add events to the history used for scoring (parameters are kept)."""
        self._check_fitted()
        return self.update_events(resolve_events(events, self.grid_))

    def update_events(self, ev: Events) -> "GridForecaster":
        """:meth:`update` with events already resolved onto the fitted grid."""
        self._check_fitted()
        merged = Events(
            cell=np.concatenate([self.events_.cell, ev.cell]),
            t_ns=np.concatenate([self.events_.t_ns, ev.t_ns]),
            xy=np.concatenate([self.events_.xy, ev.xy]) if self.events_.xy is not None and ev.xy is not None else None,
            category=None,
            location_type=None,
        )
        if self.events_.category is not None and ev.category is not None:
            merged = Events(merged.cell, merged.t_ns, merged.xy, np.concatenate([self.events_.category, ev.category]), None)
        if self.events_.location_type is not None and ev.location_type is not None:
            merged = Events(merged.cell, merged.t_ns, merged.xy, merged.category, np.concatenate([self.events_.location_type, ev.location_type]))
        self._set_events(merged)
        return self

    def _set_events(self, ev: Events) -> None:
        order = np.argsort(ev.t_ns, kind="stable")
        self.events_ = Events(
            cell=ev.cell[order],
            t_ns=ev.t_ns[order],
            xy=None if ev.xy is None else ev.xy[order],
            category=None if ev.category is None else ev.category[order],
            location_type=None if ev.location_type is None else ev.location_type[order],
        )
        self.t_days_ = self.events_.t_ns / NS_PER_DAY

    def _check_fitted(self) -> None:
        if not hasattr(self, "grid_"):
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(events, cells) first")

    def _fit(self) -> None:  # parameters learned from the stored events
        pass

    def _window(self, start_days: float, length_days: float | None) -> slice:
        """Slice of the time-sorted events in [start - length, start)."""
        hi = np.searchsorted(self.t_days_, start_days, side="left")
        lo = 0 if length_days is None else np.searchsorted(self.t_days_, start_days - length_days, side="left")
        return slice(lo, hi)

    @property
    def cells_h3(self) -> pa.Array:
        """Cell strings in the order of ``predict``'s scores."""
        self._check_fitted()
        return self.grid_.h3

    def predict(self, period_start, horizon: str | pd.Timedelta = "W") -> np.ndarray:
        """Score per study-area cell (aligned with ``cells_h3``) for ``[period_start, +horizon)``."""
        self._check_fitted()
        return self._score(to_days(period_start), horizon_days(horizon))

    def predict_many(self, period_starts: Sequence, horizon: str | pd.Timedelta = "W") -> np.ndarray:
        """Scores for several periods: array ``(n_periods, n_cells)``."""
        self._check_fitted()
        h = horizon_days(horizon)
        if len(period_starts) == 0:
            return np.zeros((0, len(self.grid_)))
        return np.vstack([self._score(to_days(s), h) for s in period_starts])

    def _score(self, start_days: float, horizon_days: float) -> np.ndarray:
        raise NotImplementedError
