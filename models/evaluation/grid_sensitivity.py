"""Grid sensitivity: does the choice of grid change which hotspot method wins?

Every method is scored on the same periods on several grids: H3 resolutions 8, 9 and 10, and a square
grid of about the area of the study area's resolution-9 hexagons, laid at two origins half a cell apart
in x and y. PAI at 1 % and 5 % of the area per period (``models.evaluation.metrics.hotspot_metrics``),
mean and standard error over periods (``models.evaluation.backtest.summarise``), a rank per grid, and a
verdict on paired differences (``jobs.stats.paired_margin``, as the champion gate's): the ranking changes
on a grid only where a pair of methods is ordered one way by more than one paired standard error on the reference grid
and the other way by more than one on that grid. Order swaps within the noise are named, not counted.

No I/O: the caller passes the incidents, the study area's polygons and the period starts.

Notes
-----
The modifiable areal unit problem: Openshaw (1984), *The Modifiable Areal Unit Problem*, CATMOG 38;
for crime hotspots, the grid-size sensitivity of PAI in Chainey (2013), "Examining the influence of cell
size and bandwidth size on kernel density estimation crime hotspot maps for predicting spatial patterns
of crime", Bulletin of the Geographical Society of Liege 60.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.grid.cell_features import Events, GridCells, period_grid, resolve_cells, resolve_events, timestamps_ns
from jobs.grid.cells import study_area_cells
from jobs.grid.squares import square_cells
from jobs.stats import paired_margin
from models.evaluation.backtest import pc_between, summarise
from models.evaluation.metrics import hotspot_metrics
from models.hotspots.base import GridForecaster, to_ns

#: H3 resolutions ranked (about 0.74, 0.105 and 0.015 km2 per cell).
H3_RESOLUTIONS = (8, 9, 10)
#: The square grid has about the area of the study area's hexagons at this resolution.
SQUARE_LIKE = 9
#: Origins of the square grid, as a share of its side moved east and north: aligned, and half a cell.
SQUARE_SHIFTS = (0.0, 0.5)
#: Methods that need H3 topology: prospective hotspotting weighs H3 grid distances (k-rings); the learned
#: model's features are built from H3 cells (k-ring counts, the incidents' H3 parents). They are ranked on
#: the H3 grids only.
H3_ONLY = frozenset({"prospective", "learned"})
COVERAGES = (0.01, 0.05)
COLUMNS = ["grid", "method", "pai_1pct", "se_1pct", "pai_5pct", "se_5pct", "rank", "periods", "cells"]
STABLE = "the ranking is stable across grids"
#: The model card's version, cheap enough for every registered version: the baselines that read only cell
#: positions and times, over the last weeks of the data (about 3 s on Chicago's 117,875 incidents).
CARD_METHODS = ("naive", "kde")
CARD_WEEKS = 26


@dataclass(frozen=True)
class GridSensitivity:
    """``table``: one row per grid and method (:data:`COLUMNS`; rank 1 = highest mean PAI at 1 % on that
    grid); ``periods``: PAI per grid, method and period; ``verdict``: one line; ``reference``: the grid the
    others are compared with."""

    table: pd.DataFrame
    periods: pd.DataFrame
    verdict: str
    reference: str

    def to_dict(self) -> dict:
        """The table (records), verdict and reference grid, JSON-ready (what a materialisation records)."""
        table = self.table.astype({"rank": int, "periods": int, "cells": int})
        return {"table": table.to_dict("records"), "verdict": self.verdict, "reference": self.reference}

    @classmethod
    def from_dict(cls, d: Mapping) -> "GridSensitivity":
        """Back from :meth:`to_dict`, without the per-period rows."""
        return cls(table=pd.DataFrame(list(d["table"]), columns=COLUMNS), periods=pd.DataFrame(),
                   verdict=str(d["verdict"]), reference=str(d["reference"]))


@dataclass(frozen=True)
class _Grid:
    """A grid resolved for scoring: its cells, the incidents on it, and (H3 only) the tables the
    forecasters' own ``fit`` reads."""

    name: str
    cells: GridCells
    events: Events
    h3_cells: pa.Table | None = None


def _h3_incidents(incidents: pa.Table) -> pa.Table:
    """Incidents with an ``h3`` column (the finest resolution), computed from ``lon``/``lat`` when absent."""
    missing = [c for c in ("occurred_at", "lon", "lat") if c not in incidents.column_names]
    if missing:
        raise ValueError(f"incidents needs columns {missing} (occurred_at, lon, lat); found {incidents.column_names}")
    if "h3" in incidents.column_names:
        return incidents
    from jobs.geo.points import h3_cells

    lon = incidents.column("lon").to_numpy(zero_copy_only=False).astype(np.float64)
    lat = incidents.column("lat").to_numpy(zero_copy_only=False).astype(np.float64)
    return incidents.append_column("h3", h3_cells(lon, lat))


def _grids(incidents: pa.Table, boundaries, resolutions: Sequence[int], shifts: Sequence[float],
           square_like: int) -> list[_Grid]:
    """The H3 grids at ``resolutions`` and the square grids at ``shifts`` (side: the square root of the mean
    area of the study area's H3 cells at ``square_like``)."""
    out = []
    t_ns = timestamps_ns(incidents.column("occurred_at"))
    for r in sorted(set(resolutions) | ({square_like} if shifts else set())):
        cells = study_area_cells(boundaries, resolution=r)
        grid = resolve_cells(cells)
        if r == square_like:
            side_m = 1000.0 * float(np.sqrt(np.mean(grid.area_km2)))
        if r in resolutions:
            out.append(_Grid(f"H3 res {r}", grid, resolve_events(incidents, grid), cells))
    lon = incidents.column("lon").to_numpy(zero_copy_only=False).astype(np.float64) if shifts else None
    lat = incidents.column("lat").to_numpy(zero_copy_only=False).astype(np.float64) if shifts else None
    for shift in shifts:
        sq = square_cells(boundaries, side_m, shift=shift)
        pos = sq.positions(lon, lat)
        keep = pos >= 0
        out.append(_Grid(sq.name, sq.grid_cells(), Events(pos[keep], t_ns[keep], None, None, None)))
    return out


def _scores(factory: Callable[[], GridForecaster], grid: _Grid, incidents: pa.Table,
            starts: list[pd.Timestamp], horizon) -> np.ndarray:
    """``(periods, cells)`` scores of a method fitted on the incidents before the first start, each period
    scored from the incidents before its own start (as the backtest scores them)."""
    model = factory()
    origin, last = starts[0], starts[-1]
    if _reads_table(model):  # on an H3 grid (grid_sensitivity refuses it on squares)
        model.fit(incidents, grid.h3_cells, origin=origin)
        later = pc_between(incidents, incidents.column("occurred_at"), origin, last)
        if later.num_rows:
            model.update(later)
    else:
        model.fit_events(grid.cells, grid.events, origin=origin)
        t = grid.events.t_ns
        keep = (t >= to_ns(origin)) & (t < to_ns(last))
        model.update_events(Events(grid.events.cell[keep], t[keep], None, None, None))
    return model.predict_many(starts, horizon)


def _reads_table(model: GridForecaster) -> bool:
    """Whether a forecaster reads more than cell positions and times: one with its own ``fit`` (the learned
    model builds features from the incidents table and H3 cells) gets the table, so an H3 grid."""
    return type(model).fit is not GridForecaster.fit


def _period_rows(grid: _Grid, name: str, scores: np.ndarray, counts: np.ndarray,
                 starts: list[pd.Timestamp]) -> list[pd.DataFrame]:
    rows = []
    for k, s in enumerate(starts):
        m = hotspot_metrics(scores[k], counts[k], grid.cells.area_km2, COVERAGES, tie_key=grid.cells.index)
        rows.append(m.assign(grid=grid.name, method=name, horizon="-", period_start=s, cells=len(grid.cells)))
    return rows


def grid_sensitivity(incidents: pa.Table, boundaries, starts: Sequence,
                     methods: Mapping[str, Callable[[], GridForecaster]], *,
                     resolutions: Sequence[int] = H3_RESOLUTIONS, square_shifts: Sequence[float] = SQUARE_SHIFTS,
                     square_like: int = SQUARE_LIKE, h3_only: frozenset[str] = H3_ONLY, horizon: str = "W",
                     timezone: str = "UTC", reference: str | None = None) -> GridSensitivity:
    """Rank ``methods`` by PAI at 1 % (and 5 %) of the area on every grid, on the same periods.

    Parameters
    ----------
    incidents
        ``occurred_at`` (UTC), ``lon``, ``lat``; ``h3`` (resolution >= the finest grid's) is used for the H3
        grids when present, else computed from the coordinates. Rows without coordinates count on the H3
        grids only.
    boundaries
        The study area's polygons (WKB, EPSG:4326).
    starts
        Period starts, on one period grid of ``horizon`` on the clock of ``timezone`` (e.g. consecutive
        local weeks). Each method is fitted on the incidents before the first and scores every period from
        the incidents before its start.
    methods
        ``{name: factory}``; ``factory()`` returns an unfitted grid forecaster. Names in ``h3_only`` are
        scored on the H3 grids only.
    reference
        The grid the others are compared with (default: H3 at ``square_like``, else the first grid).
    """
    if not methods:
        raise ValueError("pass at least one method to rank")
    if len(starts) < 2:
        raise ValueError(f"grid sensitivity needs at least 2 periods for standard errors, got {len(starts)}")
    starts = sorted(pd.Timestamp(to_ns(s), tz="UTC") for s in starts)
    pg = period_grid(horizon, starts[0], timezone)
    pids = pg.index_of(np.array([s.value for s in starts]))
    if np.any(pg.start_ns(pids) != np.array([s.value for s in starts])) or len(set(pids.tolist())) != len(pids):
        raise ValueError(f"period starts must be distinct starts of one {horizon!r} grid on {timezone} time")
    if square_shifts:
        table_readers = [name for name, f in methods.items() if name not in h3_only and _reads_table(f())]
        if table_readers:
            raise ValueError(f"{', '.join(table_readers)} read the incidents table and H3 cells: score them on H3 "
                             "grids only (h3_only)")
    incidents = _h3_incidents(incidents)
    rows = []
    for grid in _grids(incidents, boundaries, resolutions, square_shifts, square_like):
        pe = pg.index_of(grid.events.t_ns)
        counts = np.zeros((len(pids), len(grid.cells)))
        for k, p in enumerate(pids):
            counts[k] = np.bincount(grid.events.cell[pe == p], minlength=len(grid.cells))
        for name, factory in methods.items():
            if grid.h3_cells is None and name in h3_only:
                continue
            rows += _period_rows(grid, name, _scores(factory, grid, incidents, starts, horizon), counts, starts)
    periods = pd.concat(rows, ignore_index=True)
    table = _table(periods)
    grids = list(dict.fromkeys(table["grid"]))
    ref = reference or (f"H3 res {square_like}" if f"H3 res {square_like}" in grids else grids[0])
    if ref not in grids:
        raise ValueError(f"reference grid {ref!r} is not one of {grids}")
    wide = periods.pivot(index=["grid", "method", "period_start"], columns="coverage", values="pai")
    wide = wide.rename(columns=dict(zip(COVERAGES, ("pai_1pct", "pai_5pct")))).reset_index()
    wide = wide[["grid", "method", "period_start", "pai_1pct", "pai_5pct"]]
    return GridSensitivity(table=table, periods=wide, verdict=verdict(wide, table, ref), reference=ref)


def _table(periods: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error per grid, method and coverage, one row per grid and method, ranked per grid
    (ties by name); grids in the order they were scored."""
    out = []
    for grid, g in periods.groupby("grid", sort=False):
        s = summarise(g).set_index(["method", "coverage"])
        ranked = sorted(dict.fromkeys(g["method"]), key=lambda m: (-s.loc[(m, COVERAGES[0]), "pai_mean"], m))
        for rank, method in enumerate(ranked, start=1):
            one, five = s.loc[(method, COVERAGES[0])], s.loc[(method, COVERAGES[1])]
            out.append({"grid": grid, "method": method, "pai_1pct": one["pai_mean"], "se_1pct": one["pai_se"],
                        "pai_5pct": five["pai_mean"], "se_5pct": five["pai_se"], "rank": rank,
                        "periods": int(one["n_periods"]), "cells": int(g["cells"].iloc[0])})
    return pd.DataFrame(out, columns=COLUMNS)


def verdict(periods: pd.DataFrame, table: pd.DataFrame, reference: str) -> str:
    """One line: :data:`STABLE`, the same with the swaps that stay within the noise, or which grid changes the
    ranking and how (a pair ordered by more than one paired standard error both ways)."""

    pai = {(g, m): d.sort_values("period_start")["pai_1pct"].to_numpy()
           for (g, m), d in periods.groupby(["grid", "method"], sort=False)}
    rank = {(r.grid, r.method): r.rank for r in table.itertuples()}
    changed, swapped = {}, []
    for grid in dict.fromkeys(table["grid"]):
        if grid == reference:
            continue
        common = [m for m in table.loc[table["grid"] == reference, "method"] if (grid, m) in pai]
        for a, b in combinations(common, 2):  # a ranks above b on the reference grid (its rows come ranked)
            if rank[(grid, a)] < rank[(grid, b)]:
                continue
            on_ref = paired_margin(pai[(reference, a)], pai[(reference, b)])
            on_grid = paired_margin(pai[(grid, b)], pai[(grid, a)])
            if on_ref.beats and on_grid.beats:
                changed.setdefault(grid, []).append(f"{b} beats {a} by {on_grid.text()} (on {reference} {a} led "
                                                    f"by {on_ref.text()})")
            else:
                swapped.append(f"{b} above {a} on {grid}")
    if changed:
        return "; ".join(f"{grid} changes it (PAI@1%): {', '.join(pairs)}" for grid, pairs in changed.items())
    if swapped:
        return f"{STABLE} within one paired standard error (swaps within the noise: {'; '.join(swapped)})"
    return STABLE


def card_grid_sensitivity(incidents: pa.Table, boundaries, origin, *, timezone: str = "UTC",
                          weeks: int = CARD_WEEKS, resolution: int = SQUARE_LIKE) -> GridSensitivity | None:
    """The model card's grid sensitivity: :data:`CARD_METHODS` on every grid over the ``weeks`` local weeks
    before ``origin`` (the start of the incomplete week of the last incident), fewer when the data starts
    later; None when fewer than two weeks of data precede ``origin``. The served ``resolution`` is the
    reference grid (added to :data:`H3_RESOLUTIONS` when it is not one of them)."""
    from models.hotspots.baselines import BASELINES

    pg = period_grid("W", timezone=timezone)
    p1 = int(pg.index_of(np.array([to_ns(origin)]))[0])
    first = int(pg.index_of(timestamps_ns(incidents.column("occurred_at")).min(keepdims=True))[0])
    p0 = max(p1 - int(weeks), first + 1)  # every scored week has a history before it
    if p1 - p0 < 2:
        return None
    starts = [pd.Timestamp(int(pg.start_ns(p)), tz="UTC") for p in range(p0, p1)]
    return grid_sensitivity(incidents, boundaries, starts, {m: BASELINES[m] for m in CARD_METHODS},
                            resolutions=sorted({*H3_RESOLUTIONS, int(resolution)}), timezone=timezone,
                            reference=f"H3 res {int(resolution)}")
