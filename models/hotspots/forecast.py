"""Forecasts for every period of a span, as the outside-evaluation CLI asks for them."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.grid.cell_features import period_grid, resolve_cells
from models.hotspots.base import GridForecaster, horizon_days
from models.hotspots.baselines import BASELINES
from models.hotspots.learned import LearnedForecaster
from jobs.grid.schemas import FORECAST_SCHEMA

#: Every selectable method: the baselines and the learned model.
METHODS = (*BASELINES, "learned")


def make_forecaster(method: str, step: str = "W", params: Mapping | None = None, anchor=None,
                    timezone: str = "UTC") -> GridForecaster:
    """Unfitted forecaster by name (``naive``, ``kde``, ``prospective``, ``sepp``, ``learned``); the learned model's
    periods run on the clock of ``timezone``."""
    params = dict(params or {})
    if method == "learned":
        return LearnedForecaster(freq=step, anchor=anchor, **{"timezone": timezone, **params})
    if method not in BASELINES:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return BASELINES[method](**params)


def forecast_periods(
    incidents: pa.Table,
    cells: pa.Table,
    *,
    start,
    end,
    step: str = "W",
    resolution: int = 9,
    method: str = "sepp",
    method_params: Mapping | None = None,
    refit_every: int | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 13,
    timezone: str = "UTC",
) -> pa.Table:
    """Score every study-area cell for every period start from ``start`` to ``end``.

    Parameters
    ----------
    incidents
        Silver ``incidents`` (``occurred_at`` UTC, ``h3`` resolution 12, ``lon``, ``lat``,
        ``category``, ``location_type``); may extend past ``end``.
    cells
        Study-area cells at ``resolution`` (``jobs.grid.cells.study_area_cells``).
    start, end
        First period start (a date, taken as 00:00 local time of ``timezone``) and the last allowed start.
    step
        ``"W"`` or ``"D"``: period length; period starts are the local midnights ``start + k * step``
        (a day the clocks change lasts 23 or 25 hours).
    resolution
        H3 resolution of ``cells`` (checked).
    method
        One of :data:`METHODS`.
    method_params
        Settings for the method's constructor.
    refit_every
        Refit every this many periods (``None``: fit once, on incidents before ``start``).
    progress
        Called with the number of periods just scored (for a progress bar).
    chunk
        Periods scored per call between progress reports (the learned model builds
        its features once per call).
    timezone
        IANA zone whose local midnights start the periods (the study area's).

    Returns
    -------
    pyarrow.Table
        ``FORECAST_SCHEMA``: ``period_start`` (date32, the local date), ``h3`` (string at ``resolution``),
        ``score`` (float64, higher = riskier), one row per period and cell.

    Notes
    -----
    Each period's scores come from a model fitted on incidents before its origin
    and from incidents strictly before the period's start: baselines filter their
    history at ``predict``, and the learned model's features are built only from
    earlier incidents (``jobs.grid.cell_features``).
    """
    if step not in ("W", "D"):
        raise ValueError(f"step must be 'W' or 'D' (period_start is a date), got {step!r}; use "
                         "models.evaluation.backtest.rolling_origin_backtest for 8-hour shifts")
    grid = resolve_cells(cells, resolution)
    # dates as given; an instant (tz-aware) is read as its local date in ``timezone``
    d0, d1 = (t.tz_convert(timezone).tz_localize(None) if t.tzinfo is not None else t
              for t in (pd.Timestamp(start), pd.Timestamp(end)))
    pg = period_grid(step, d0.normalize().tz_localize(timezone, ambiguous=True, nonexistent="shift_forward"),
                     timezone)
    step_days = int(horizon_days(step))
    n_periods = (d1.normalize() - d0.normalize()).days // step_days + 1
    if n_periods < 1:
        raise ValueError(f"end ({end}) is before start ({start})")
    starts = [pd.Timestamp(int(t), tz="UTC") for t in pg.start_ns(np.arange(n_periods))]
    dates = [d0.normalize() + pd.Timedelta(days=k * step_days) for k in range(n_periods)]
    block = n_periods if refit_every is None else int(refit_every)
    if block < 1:
        raise ValueError(f"refit_every must be >= 1, got {refit_every}")
    scores = []
    ts = incidents.column("occurred_at")
    from models.evaluation.backtest import pc_between

    for b0 in range(0, n_periods, block):
        b = starts[b0 : b0 + block]
        model = make_forecaster(method, step, method_params, anchor=starts[0], timezone=timezone)
        model.fit(incidents, cells, origin=b[0])
        later = pc_between(incidents, ts, b[0], b[-1])
        if later.num_rows:
            model.update(later)
        for c0 in range(0, len(b), max(1, int(chunk))):
            part = b[c0 : c0 + max(1, int(chunk))]
            scores.append(model.predict_many(part, step))
            if progress is not None:
                progress(len(part))
    S = np.vstack(scores)
    n = len(grid)
    h3 = np.asarray(grid.h3.to_numpy(zero_copy_only=False), dtype=object)
    return pa.table(
        {
            "period_start": pa.array(np.repeat(np.array([d.date() for d in dates], dtype="datetime64[D]"), n), pa.date32()),
            "h3": pa.array(np.tile(h3, n_periods), pa.string()),
            "score": pa.array(S.ravel().astype(np.float64)),
        },
        schema=FORECAST_SCHEMA,
    )
