"""The cell-by-period modelling table for hotspot forecasting (gold ``cell_features``).

One row per study-area cell and period; every feature of a period is computed
from incidents strictly before the period's start, and ``target`` is the count
in the period. All work is numpy/scipy over a cell-by-period count matrix, with
no Python loop over cells.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from scipy.spatial import cKDTree

from jobs.grid.cells import (
    cells_to_uint64,
    cells_xy_m,
    grid_weights,
    parent_uint64,
    quartic_weights,
)
from jobs.grid.params import FREQS, CellFeatureParams, _timezone
from jobs.localtime import utc_timestamp

#: Weeks start on Monday 00:00 (1970-01-05); days and shifts at midnight: wall-clock times of the grid's zone.
_WEEK_ANCHOR = pd.Timestamp("1970-01-05")
_DAY_ANCHOR = pd.Timestamp("1970-01-01")

KEY_COLUMNS = ("h3", "period_start")
TARGET_PREFIX = "target"


@dataclass(frozen=True)
class PeriodGrid:
    """Period grid: period ``p`` starts at wall-clock time ``anchor + p * step`` in ``timezone``.

    In UTC every period lasts ``step``. In a zone with daylight saving time the
    boundaries stay on the local clock (a day starts at local midnight, a shift
    at 06:00 local all year), so the day the clocks change lasts 23 or 25 hours.
    A boundary that falls in the skipped hour starts at the first instant after
    it; one in the repeated hour at its first occurrence. ``anchor`` is an instant
    (tz-aware); its wall-clock time in ``timezone`` fixes the grid.
    """

    step: pd.Timedelta
    anchor: pd.Timestamp
    timezone: str = "UTC"

    @property
    def step_ns(self) -> int:
        return int(self.step.value)

    @property
    def anchor_ns(self) -> int:
        return int(self.anchor.value)

    @property
    def is_utc(self) -> bool:
        return self.timezone == "UTC"

    def _wall_ns(self, t_ns: np.ndarray) -> np.ndarray:
        """Local wall-clock nanoseconds of UTC instants."""
        t = np.asarray(t_ns, dtype=np.int64)
        if self.is_utc:
            return t
        flat = pd.DatetimeIndex(t.ravel().view("datetime64[ns]"), tz="UTC").tz_convert(self.timezone)
        return flat.tz_localize(None).asi8.reshape(t.shape)

    @cached_property
    def _anchor_wall_ns(self) -> int:
        """The anchor's local wall-clock nanoseconds (computed once per grid)."""
        return int(self._wall_ns(np.array([self.anchor_ns]))[0])

    def index_of(self, t_ns: np.ndarray) -> np.ndarray:
        """Period index of UTC nanosecond timestamps (floor)."""
        return np.floor_divide(self._wall_ns(t_ns) - self._anchor_wall_ns, self.step_ns)

    def start_ns(self, p: np.ndarray | int) -> np.ndarray:
        """UTC nanoseconds of the start of period(s) ``p``."""
        if self.is_utc:
            return self.anchor_ns + np.asarray(p, dtype=np.int64) * self.step_ns
        wall = self._anchor_wall_ns + np.asarray(p, dtype=np.int64) * self.step_ns
        flat = pd.DatetimeIndex(np.atleast_1d(wall).ravel().view("datetime64[ns]"))
        local = flat.tz_localize(self.timezone, ambiguous=np.ones(len(flat), bool), nonexistent="shift_forward")
        out = local.tz_convert("UTC").tz_localize(None).asi8
        return out.reshape(np.shape(wall)) if np.ndim(wall) else out[0]


def period_grid(freq: str | pd.Timedelta = "W", anchor: pd.Timestamp | str | None = None,
                timezone: str = "UTC") -> PeriodGrid:
    """Build the period grid for ``freq`` ("W", "D", "8h" or a Timedelta) on the clock of ``timezone``.

    ``anchor`` moves the grid (e.g. shifts starting 06:00 local time: an instant
    whose local wall-clock time is 06:00); by default weeks start Monday 00:00
    and days/shifts at midnight, local time of ``timezone`` (UTC by default).
    """
    if isinstance(freq, str):
        if freq not in FREQS:
            raise ValueError(f"freq must be one of {sorted(FREQS)} or a pandas Timedelta, got {freq!r}")
        step = FREQS[freq]
        default_anchor = _WEEK_ANCHOR if freq == "W" else _DAY_ANCHOR
    elif isinstance(freq, (pd.Timedelta,)):
        step = freq
        default_anchor = _DAY_ANCHOR
    else:
        raise TypeError(f"freq must be a string or pandas Timedelta, got {type(freq).__name__}")
    if step <= pd.Timedelta(0):
        raise ValueError(f"freq must be a positive duration, got {step}")
    tz = _timezone(timezone)
    a = default_anchor.tz_localize(tz) if anchor is None else utc_timestamp(anchor, "anchor")
    return PeriodGrid(step=step, anchor=a.tz_convert("UTC"), timezone=tz)


def data_origin(incidents: pa.Table, freq: str | pd.Timedelta = "W", timezone: str = "UTC") -> pd.Timestamp:
    """Start of the period (standard grid of ``freq`` on the clock of ``timezone``) holding the last incident.

    That period is incomplete, so it is where training and features stop: the
    ``cell_features`` asset's last row is the period before it.
    """
    pg = period_grid(freq, timezone=timezone)
    last = int(timestamps_ns(incidents.column("occurred_at")).max())
    return pd.Timestamp(int(pg.start_ns(pg.index_of(np.array([last]))[0])), tz="UTC")


def next_period_start(ts, freq: str | pd.Timedelta = "W", timezone: str = "UTC") -> pd.Timestamp:
    """Start (UTC) of the period after the one holding ``ts``, on the standard grid of ``freq`` in ``timezone``
    (a week after a Monday, but 7 days +- 1 hour across a change of the clocks)."""
    pg = period_grid(freq, timezone=timezone)
    p = int(pg.index_of(np.array([utc_timestamp(ts, "ts").value]))[0])
    return pd.Timestamp(int(pg.start_ns(p + 1)), tz="UTC")


def timestamps_ns(col: pa.Array | pa.ChunkedArray, name: str = "occurred_at") -> np.ndarray:
    """UTC nanoseconds (int64) of an Arrow timestamp column; naive stamps are taken as UTC."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not pa.types.is_timestamp(col.type):
        raise TypeError(f"{name} must be an Arrow timestamp column, got {col.type}")
    if col.null_count:
        raise ValueError(f"{name} has {col.null_count} null values; drop or fill them first")
    return col.cast(pa.timestamp("ns", tz=col.type.tz)).cast(pa.int64()).to_numpy(zero_copy_only=False)


def _slug(value: str) -> str:
    s = re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")
    return s or "blank"


@dataclass(frozen=True)
class GridCells:
    """Study-area cells resolved for numerics: ``uint64`` index, centroid metres, area."""

    h3: pa.Array
    index: np.ndarray
    xy: np.ndarray
    area_km2: np.ndarray
    resolution: int

    def __len__(self) -> int:
        return len(self.index)


def resolve_cells(cells: pa.Table | pa.Array | Sequence[str], resolution: int | None = None) -> GridCells:
    """Normalise a cells table (``h3`` [+ ``lon``, ``lat``, ``area_km2``]) or array of cell strings."""
    from jobs.grid.cells import cells_table

    if isinstance(cells, pa.Table):
        if "h3" not in cells.column_names:
            raise ValueError(f"cells table needs an 'h3' column; found {cells.column_names}")
        h3col = cells.column("h3")
    else:
        h3col = cells
    idx, valid = cells_to_uint64(h3col)
    if len(idx) == 0:
        raise ValueError("cells is empty: pass the study-area cells (jobs.grid.cells.study_area_cells)")
    if not valid.all():
        raise ValueError(f"cells has {int((~valid).sum())} null or invalid h3 values")
    if len(np.unique(idx)) != len(idx):
        raise ValueError("cells has duplicate h3 values; pass each study-area cell once")
    res = np.unique(((idx >> np.uint64(52)) & np.uint64(0xF)).astype(int))
    if len(res) != 1:
        raise ValueError(f"cells mix H3 resolutions {res.tolist()}; pass cells of one resolution")
    if resolution is not None and int(res[0]) != int(resolution):
        raise ValueError(f"cells are at resolution {int(res[0])} but resolution={resolution} was asked")
    table = cells_table(idx)
    if isinstance(cells, pa.Table) and "area_km2" in cells.column_names:
        area = cells.column("area_km2").to_numpy(zero_copy_only=False).astype(np.float64)
    else:
        area = table.column("area_km2").to_numpy()
    lon = table.column("lon").to_numpy()
    lat = table.column("lat").to_numpy()
    return GridCells(
        h3=table.column("h3").combine_chunks(),
        index=idx,
        xy=cells_xy_m(lon, lat),
        area_km2=area,
        resolution=int(res[0]),
    )


@dataclass(frozen=True)
class Events:
    """Incidents resolved onto a grid: cell position, time (ns), metres, labels."""

    cell: np.ndarray  # position in GridCells, >= 0
    t_ns: np.ndarray
    xy: np.ndarray | None  # (n, 2) metres in the cells' projection, NaN where unlocated
    category: np.ndarray | None
    location_type: np.ndarray | None


def resolve_events(incidents: pa.Table, grid: GridCells) -> Events:
    """Map incidents (``occurred_at``, ``h3`` at the grid's or a finer resolution) onto ``grid``.

    Rows whose cell is null or outside the study area are dropped. ``lon``/``lat``
    give the event's position for distance features; when absent, the cell
    centroid stands in.
    """
    for col in ("occurred_at", "h3"):
        if col not in incidents.column_names:
            raise ValueError(f"incidents needs column {col!r}; found {incidents.column_names}")
    t = timestamps_ns(incidents.column("occurred_at"))
    raw, valid = cells_to_uint64(incidents.column("h3"))
    res = ((raw[valid] >> np.uint64(52)) & np.uint64(0xF)).astype(int)
    if res.size and res.min() < grid.resolution:
        raise ValueError(
            f"incidents h3 has cells at resolution {int(res.min())}, coarser than the grid's {grid.resolution}"
        )
    parents = np.zeros_like(raw)
    parents[valid] = parent_uint64(raw[valid], grid.resolution)
    pos = _positions(parents, valid, grid.index)
    keep = pos >= 0
    xy = None
    if "lon" in incidents.column_names and "lat" in incidents.column_names:
        lon = incidents.column("lon").to_numpy(zero_copy_only=False).astype(np.float64)[keep]
        lat = incidents.column("lat").to_numpy(zero_copy_only=False).astype(np.float64)[keep]
        lon0, lat0 = _projection_centre(grid)
        xy = cells_xy_m(lon, lat, lon0=lon0, lat0=lat0)
        missing = ~np.isfinite(xy).all(axis=1)
        xy[missing] = grid.xy[pos[keep][missing]]
    else:
        xy = grid.xy[pos[keep]]
    cat = None
    if "category" in incidents.column_names:
        cat = np.asarray(incidents.column("category").to_numpy(zero_copy_only=False), dtype=object)[keep]
    lt = None
    if "location_type" in incidents.column_names:
        lt = np.asarray(incidents.column("location_type").to_numpy(zero_copy_only=False), dtype=object)[keep]
    return Events(cell=pos[keep], t_ns=t[keep], xy=xy, category=cat, location_type=lt)


def _projection_centre(grid: GridCells) -> tuple[float, float]:
    from jobs.grid.cells import cells_table

    tb = cells_table(grid.index)
    return float(np.mean(tb.column("lon").to_numpy())), float(np.mean(tb.column("lat").to_numpy()))


def _count_matrix(cell: np.ndarray, p: np.ndarray, n: int, T: int, weights: np.ndarray | None = None) -> np.ndarray:
    flat = cell.astype(np.int64) * T + p.astype(np.int64)
    out = np.bincount(flat, weights=weights, minlength=n * T)
    return out.reshape(n, T)


def _prefix(C: np.ndarray) -> np.ndarray:
    """S[:, t] = sum of C[:, s] for s < t (shape n x T+1)."""
    S = np.zeros((C.shape[0], C.shape[1] + 1), dtype=np.float64)
    np.cumsum(C, axis=1, out=S[:, 1:])
    return S


def _window(S: np.ndarray, t: np.ndarray, w: int) -> np.ndarray:
    """Sum of the ``w`` periods before each period in ``t`` (columns of S index period starts)."""
    return S[:, t] - S[:, np.maximum(t - w, 0)]


def _decayed(C: np.ndarray, half_life: float) -> np.ndarray:
    """D[:, t] = sum over s < t of C[:, s] * 2^(-(t - 1 - s) / half_life) (shape n x T+1)."""
    r = 0.5 ** (1.0 / half_life)
    D = np.zeros((C.shape[0], C.shape[1] + 1), dtype=np.float64)
    for t in range(C.shape[1]):  # one vector op per period; periods are few next to cells
        np.multiply(D[:, t], r, out=D[:, t + 1])
        D[:, t + 1] += C[:, t]
    return D


def _vocab(values: np.ndarray | None, given: Sequence[str] | None, top: int) -> list[str]:
    if given is not None:
        return [str(v) for v in given]
    if values is None or top <= 0:
        return []
    s = pd.Series(values).dropna().astype(str)
    vc = s.value_counts()
    # Ties in frequency are broken by name so the vocabulary is deterministic.
    vc = vc.reset_index().sort_values(["count", vc.index.name or "index"], ascending=[False, True])
    return vc.iloc[:top, 0].tolist()


def feature_columns(table: pa.Table | pd.DataFrame) -> list[str]:
    """Feature columns of a ``cell_features`` table: all but the keys and ``target*`` columns."""
    names = table.column_names if isinstance(table, pa.Table) else list(table.columns)
    return [c for c in names if c not in KEY_COLUMNS and not c.startswith(TARGET_PREFIX)]


def output_span(ev: Events, pg: PeriodGrid, start=None, end=None) -> tuple[int, int, int]:
    """``(first output period, last output period, first history period)`` on ``pg``.

    The output runs from ``start`` (default: the first incident's period) to ``end``
    (default: the last incident's); history starts at the earliest incident up to the
    last output period, or at the first output period if that is earlier.
    """
    if start is not None:
        p_out0 = int(pg.index_of(np.array([utc_timestamp(start, "start").value]))[0])
    elif len(ev.t_ns):
        p_out0 = int(pg.index_of(ev.t_ns.min()))
    else:
        raise ValueError("incidents has no rows in the study area and no start was given")
    if end is not None:
        p_out1 = int(pg.index_of(np.array([utc_timestamp(end, "end").value]))[0])
    elif len(ev.t_ns):
        p_out1 = int(pg.index_of(ev.t_ns.max()))
    else:
        p_out1 = p_out0
    if p_out1 < p_out0:
        raise ValueError(f"end ({end}) is before start ({start})")
    p_ev = pg.index_of(ev.t_ns)
    in_hist = p_ev <= p_out1
    p_lo = int(min(p_out0, p_ev[in_hist].min() if in_hist.any() else p_out0))
    return p_out0, p_out1, p_lo


def cell_features(
    incidents: pa.Table,
    cells: pa.Table | pa.Array | Sequence[str],
    params: CellFeatureParams | None = None,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    extra_counts: Mapping[str, pa.Table] | None = None,
) -> pa.Table:
    """Per study-area cell and period: lagged counts, neighbourhood, kernel and near-repeat features.

    Parameters
    ----------
    incidents
        Silver ``incidents`` rows (``jobs.schemas.INCIDENTS``); needs ``occurred_at``
        (timestamp, UTC) and ``h3`` (resolution 12, or any resolution >= ``params.resolution``).
        ``lon``/``lat`` (near-repeat distances), ``category`` and ``location_type``
        are used when present. Rows outside ``cells`` are ignored.
    cells
        Study-area cells at ``params.resolution`` (table with ``h3`` [and ``area_km2``] or
        an array of hex strings), e.g. from :func:`jobs.grid.cells.study_area_cells`.
    params
        Every feature setting (:class:`jobs.grid.params.CellFeatureParams`; default
        ``CellFeatureParams()``). Settings left to the data (vocabularies, kernel
        bandwidth) are fixed as :func:`resolve_params` fixes them.
    start, end
        First and last output period (any instant inside them); default the span of
        ``incidents``. History before ``start`` is always used for the features.
    extra_counts
        Optional hook for other feeds: ``{name: table}``, each table with ``h3`` (at
        ``params.resolution`` or finer), ``period_start`` (timestamp; floored onto the grid) and
        ``value`` (numeric; summed per cell and period), e.g. CDR activity per cell and
        week. Each becomes ``<name>_lag_1`` and ``<name>_roll_w`` features over
        ``params.windows``; like every feature, only periods before the row's period are read,
        so a value keyed to period ``p`` is first used by period ``p + 1``.

    Returns
    -------
    pyarrow.Table
        Rows ordered by period then cell position; columns ``h3``, ``period_start``
        (timestamp[us, UTC]), the features (float32 / int16), ``target`` (int32) and
        ``target_cat_<slug>`` (int32). :func:`feature_columns` lists the features.

    Notes
    -----
    No leakage: the features of a period read only counts of earlier periods and
    events before its start (prefix sums over a cell-by-period count matrix), which
    ``tests/jobs/grid/test_cell_features.py`` checks by perturbing rows at and after
    a period start. The kernel is the quartic (biweight) of retrospective
    hotspotting (open_cp, CrimeStat); near-repeat exposure follows the 400 m /
    14 day band of Johnson et al. (2007), "Space-time patterns of risk: a cross
    national assessment of residential burglary victimization", J. Quant. Criminol.
    """
    params = _as_params(params)
    grid = resolve_cells(cells, params.resolution)
    pg = period_grid(params.freq, params.anchor, params.timezone)
    ev = resolve_events(incidents, grid)
    p = _resolved(params, grid, ev)
    h = _history(ev, pg, len(grid), start, end)
    cols = _Columns()
    ring = grid_weights(grid.index, p.k_ring, kind="ring") if p.k_ring > 0 else sparse.identity(h.n, format="csr")
    _count_columns(cols, h, ring, p)
    _kernel_columns(cols, h, grid, p)
    _near_repeat_column(cols, h, ev, grid, pg, p)
    cat_targets = _category_columns(cols, h, ev, p)
    _location_columns(cols, h, ev, ring, p)
    _extra_columns(cols, h, grid, pg, p.windows, extra_counts)
    starts = pd.DatetimeIndex(pg.start_ns(h.t_out + h.p_lo).astype("datetime64[ns]"), tz="UTC")
    _calendar_columns(cols, starts, pg.step, p.timezone, h.n)
    out = {
        "h3": pa.array(np.tile(np.asarray(grid.h3.to_numpy(zero_copy_only=False), dtype=object), len(h.t_out)),
                       pa.string()),
        "period_start": pa.array(np.repeat(starts.tz_localize(None).to_numpy().astype("datetime64[us]"), h.n),
                                 pa.timestamp("us", tz="UTC")),
    }
    out.update({k: pa.array(v) for k, v in cols.items()})
    out["target"] = pa.array(np.ascontiguousarray(h.C[:, h.t_out].T).ravel().astype(np.int32))
    out.update({k: pa.array(v) for k, v in cat_targets.items()})
    return pa.table(out)


def _as_params(params) -> CellFeatureParams:
    if params is None:
        return CellFeatureParams()
    if not isinstance(params, CellFeatureParams):
        raise TypeError(f"params must be a jobs.grid.params.CellFeatureParams, got {type(params).__name__}; "
                        "build one with CellFeatureParams(**settings)")
    return params


def default_bandwidth_m(grid: GridCells) -> float:
    """``max(400 m, 2.5 x cell spacing)``: the quartic kernel's bandwidth unless one is given."""
    spacing = float(np.sqrt(np.median(grid.area_km2) * 1e6))
    return max(400.0, 2.5 * spacing)


def _resolved(params: CellFeatureParams, grid: GridCells, ev: Events) -> CellFeatureParams:
    bw = params.kernel_bandwidth_m if params.kernel_bandwidth_m is not None else default_bandwidth_m(grid)
    return params.replace(
        categories=_vocab(ev.category, params.categories, params.max_categories),
        location_types=_vocab(ev.location_type, params.location_types, params.max_location_types),
        kernel_bandwidth_m=bw,
    )


def resolve_params(params: CellFeatureParams, incidents: pa.Table,
                   cells: pa.Table | pa.Array | Sequence[str]) -> CellFeatureParams:
    """``params`` with what the kernel would decide from the data fixed, as :func:`cell_features` fixes it.

    The category and location-type vocabularies (the most frequent values in
    ``incidents`` when not given) and the kernel bandwidth (from the median
    area of ``cells`` when not given). Building features again with the
    result, from other incidents or for other periods, gives the same columns:
    this is what gold ``cell_features`` stores and a model's feature spec carries.
    """
    params = _as_params(params)
    grid = resolve_cells(cells, params.resolution)
    return _resolved(params, grid, resolve_events(incidents, grid))


@dataclass(frozen=True)
class _History:
    """The cell-by-period counts of the incidents up to the last output period."""

    n: int  # cells
    T: int  # periods from the first history period (p_lo) to the last output period
    p_lo: int
    t_out: np.ndarray  # columns of S (period starts) of the output periods
    in_hist: np.ndarray  # which resolved events are in the history
    cell: np.ndarray  # their cell positions
    period: np.ndarray  # their periods, relative to p_lo
    C: np.ndarray  # n x T counts
    S: np.ndarray  # n x T+1 prefix sums

    def window(self, w: int, S: np.ndarray | None = None) -> np.ndarray:
        return _window(self.S if S is None else S, self.t_out, w)

    def prefix_of(self, mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return _prefix(_count_matrix(self.cell[mask], self.period[mask], self.n, self.T, weights))


def _history(ev: Events, pg: PeriodGrid, n: int, start, end) -> _History:
    p_out0, p_out1, p_lo = output_span(ev, pg, start, end)
    p_ev = pg.index_of(ev.t_ns)
    in_hist = p_ev <= p_out1
    T = p_out1 - p_lo + 1
    pe = p_ev[in_hist] - p_lo
    ce = ev.cell[in_hist]
    C = _count_matrix(ce, pe, n, T)
    return _History(n=n, T=T, p_lo=p_lo, t_out=np.arange(p_out0 - p_lo, T), in_hist=in_hist, cell=ce, period=pe,
                    C=C, S=_prefix(C))


class _Columns(dict):
    """Output columns by name, in the order they are put."""

    def put(self, name: str, mat: np.ndarray, dtype=np.float32) -> None:
        """Store a cells x periods matrix as a column ordered by period, then cell."""
        self[name] = np.ascontiguousarray(mat.T).ravel().astype(dtype)


def _count_columns(cols: _Columns, h: _History, ring, p: CellFeatureParams) -> None:
    for w in p.windows:
        name = "lag_1" if w == 1 else f"roll_{w}"
        cur = h.window(w)
        cols.put(name, cur)
        cols.put(f"ring_{name}", ring @ cur)
    # Long-run mean per period over all history before the period.
    hist_len = np.maximum(h.t_out, 1).astype(np.float64)
    cols.put("rate_all", h.S[:, h.t_out] / hist_len)
    cols.put("ring_rate_all", (ring @ h.S[:, h.t_out]) / hist_len)
    # Periods since the cell's last incident, capped (no incident yet -> cap).
    idx = np.where(h.C > 0, np.arange(h.T)[None, :], -(10**9))
    last = np.maximum.accumulate(idx, axis=1)
    last_before = np.concatenate([np.full((h.n, 1), -(10**9)), last[:, :-1]], axis=1)[:, h.t_out]
    cols.put("periods_since_last", np.minimum(h.t_out[None, :] - last_before, p.recency_cap), np.int16)


def _kernel_columns(cols: _Columns, h: _History, grid: GridCells, p: CellFeatureParams) -> None:
    """Kernel-smoothed intensity (quartic over centroids, events per km2 per period) and decayed counts."""
    Q = quartic_weights(grid.xy, p.kernel_bandwidth_m, normalise=True)
    cols.put("kde_intensity", (Q @ h.window(p.kernel_window)) * 1e6 / p.kernel_window)
    for hl in p.decay_half_lives:
        D = _decayed(h.C, hl)[:, h.t_out]
        tag = f"{hl:g}".replace(".", "_")
        cols.put(f"decay_{tag}", D)
        cols.put(f"kde_decay_{tag}", Q @ D)


def _near_repeat_column(cols: _Columns, h: _History, ev: Events, grid: GridCells, pg: PeriodGrid,
                        p: CellFeatureParams) -> None:
    """Events within ``near_repeat_m`` of the centroid and ``near_repeat_days`` before the period start."""
    nr = np.zeros((h.n, h.T + 1), dtype=np.float64)
    if len(ev.t_ns) and ev.xy is not None:
        tree_c = cKDTree(grid.xy)
        tree_e = cKDTree(ev.xy[h.in_hist])
        pairs = tree_e.sparse_distance_matrix(tree_c, p.near_repeat_m, output_type="ndarray")
        e_i = pairs["i"].astype(np.int64)
        c_j = pairs["j"].astype(np.int64)
        t_e = ev.t_ns[h.in_hist][e_i]
        # an event counts for the periods starting in (t, t + days]
        first = np.clip(pg.index_of(t_e) + 1 - h.p_lo, 0, h.T)
        lastp = np.clip(pg.index_of(t_e + int(pd.Timedelta(days=p.near_repeat_days).value)) - h.p_lo, -1, h.T - 1)
        ok = lastp >= first
        np.add.at(nr, (c_j[ok], first[ok]), 1.0)
        np.add.at(nr, (c_j[ok], lastp[ok] + 1), -1.0)
    cols.put("near_repeat", np.cumsum(nr, axis=1)[:, h.t_out])


def _category_columns(cols: _Columns, h: _History, ev: Events, p: CellFeatureParams) -> dict[str, np.ndarray]:
    """Trailing counts per category; their period counts are the ``target_cat_*`` columns (returned)."""
    targets: dict[str, np.ndarray] = {}
    if not p.categories:
        return targets
    cat_h = ev.category[h.in_hist].astype(str) if ev.category is not None else np.array([], dtype=str)
    for c in p.categories:
        m = cat_h == c
        Cc = _count_matrix(h.cell[m], h.period[m], h.n, h.T)
        Sc = _prefix(Cc)
        for w in p.category_windows:
            cols.put(f"cat_{_slug(c)}_roll_{w}", h.window(w, Sc))
        targets[f"target_cat_{_slug(c)}"] = np.ascontiguousarray(Cc[:, h.t_out].T).ravel().astype(np.int32)
    return targets


def _location_columns(cols: _Columns, h: _History, ev: Events, ring, p: CellFeatureParams) -> None:
    """Location-type mix of the k-ring's incidents over the last ``mix_window`` periods."""
    if not p.location_types:
        return
    total = ring @ h.window(p.mix_window)
    denom = np.where(total > 0, total, 1.0)
    lt_h = (
        pd.Series(ev.location_type[h.in_hist]).fillna("").astype(str).to_numpy()
        if ev.location_type is not None
        else np.array([], dtype=str)
    )
    known = np.zeros(len(lt_h), dtype=bool)
    for lt in p.location_types:
        m = lt_h == lt
        known |= m
        cols.put(f"loc_{_slug(lt)}_share", ring @ h.window(p.mix_window, h.prefix_of(m)) / denom)
    cols.put("loc_other_share", ring @ h.window(p.mix_window, h.prefix_of(~known)) / denom)


def _extra_columns(cols: _Columns, h: _History, grid: GridCells, pg: PeriodGrid, windows: Sequence[int],
                   extra_counts: Mapping[str, pa.Table] | None) -> None:
    """Hook for other feeds (CDR activity, OSINT volume...) keyed by cell and period."""
    p_out1 = h.p_lo + h.T - 1
    for name, tbl in (extra_counts or {}).items():
        slug = _slug(name)
        for col in ("h3", "period_start", "value"):
            if col not in tbl.column_names:
                raise ValueError(f"extra_counts[{name!r}] needs columns h3, period_start, value; "
                                 f"found {tbl.column_names}")
        xt = pg.index_of(timestamps_ns(tbl.column("period_start"), f"extra_counts[{name!r}].period_start"))
        xraw, xvalid = cells_to_uint64(tbl.column("h3"))
        xpar = np.zeros_like(xraw)
        xpar[xvalid] = parent_uint64(xraw[xvalid], grid.resolution)
        xpos = _positions(xpar, xvalid, grid.index)
        val = pc.fill_null(tbl.column("value").cast(pa.float64()), 0.0).to_numpy()
        ok = (xpos >= 0) & (xt >= h.p_lo) & (xt <= p_out1)
        Sx = _prefix(_count_matrix(xpos[ok], xt[ok] - h.p_lo, h.n, h.T, weights=val[ok]))
        for w in windows:
            cols.put(f"{slug}_lag_1" if w == 1 else f"{slug}_roll_{w}", h.window(w, Sx))


def _calendar_columns(cols: _Columns, starts: pd.DatetimeIndex, step: pd.Timedelta, timezone: str, n: int) -> None:
    """Calendar features of the period start in the requested time zone."""
    local = starts.tz_convert(timezone)
    cal = {
        "week_of_year": local.isocalendar().week.to_numpy().astype(np.int16),
        "month": local.month.to_numpy().astype(np.int16),
    }
    if step < pd.Timedelta(days=7):
        cal["day_of_week"] = local.dayofweek.to_numpy().astype(np.int16)
    if step < pd.Timedelta(days=1):
        cal["hour"] = local.hour.to_numpy().astype(np.int16)
    for k, v in cal.items():
        cols[k] = np.repeat(v, n)


def _positions(idx: np.ndarray, valid: np.ndarray, grid_index: np.ndarray) -> np.ndarray:
    """Position of each ``uint64`` cell in ``grid_index``; -1 where invalid or absent."""
    pos = np.full(len(idx), -1, dtype=np.int64)
    if len(idx) == 0:
        return pos
    order = np.argsort(grid_index, kind="stable")
    sorted_idx = grid_index[order]
    p = np.clip(np.searchsorted(sorted_idx, idx), 0, len(sorted_idx) - 1)
    hit = valid & (sorted_idx[p] == idx)
    pos[hit] = order[p[hit]]
    return pos
