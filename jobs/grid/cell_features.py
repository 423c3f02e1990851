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

#: Period lengths the kernels know; a ``pd.Timedelta`` is accepted too.
FREQS: dict[str, pd.Timedelta] = {
    "W": pd.Timedelta(days=7),
    "D": pd.Timedelta(days=1),
    "8h": pd.Timedelta(hours=8),
}
#: Weeks start on Monday 00:00 UTC (1970-01-05); days and shifts on midnight UTC.
_WEEK_ANCHOR = pd.Timestamp("1970-01-05", tz="UTC")
_DAY_ANCHOR = pd.Timestamp("1970-01-01", tz="UTC")

KEY_COLUMNS = ("h3", "period_start")
TARGET_PREFIX = "target"


@dataclass(frozen=True)
class PeriodGrid:
    """Regular period grid: period ``p`` starts at ``anchor + p * step`` (UTC)."""

    step: pd.Timedelta
    anchor: pd.Timestamp

    @property
    def step_ns(self) -> int:
        return int(self.step.value)

    @property
    def anchor_ns(self) -> int:
        return int(self.anchor.value)

    def index_of(self, t_ns: np.ndarray) -> np.ndarray:
        """Period index of UTC nanosecond timestamps (floor)."""
        return np.floor_divide(np.asarray(t_ns, dtype=np.int64) - self.anchor_ns, self.step_ns)

    def start_ns(self, p: np.ndarray | int) -> np.ndarray:
        return self.anchor_ns + np.asarray(p, dtype=np.int64) * self.step_ns


def period_grid(freq: str | pd.Timedelta = "W", anchor: pd.Timestamp | str | None = None) -> PeriodGrid:
    """Build the period grid for ``freq`` ("W", "D", "8h" or a Timedelta).

    ``anchor`` moves the grid (e.g. shifts starting 06:00 local time); by default
    weeks start Monday 00:00 UTC and days/shifts at midnight UTC.
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
    a = default_anchor if anchor is None else _utc(anchor, "anchor")
    return PeriodGrid(step=step, anchor=a)


def _utc(value, name: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        raise ValueError(f"{name} is not a valid timestamp: {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


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
        p_out0 = int(pg.index_of(np.array([_utc(start, "start").value]))[0])
    elif len(ev.t_ns):
        p_out0 = int(pg.index_of(ev.t_ns.min()))
    else:
        raise ValueError("incidents has no rows in the study area and no start was given")
    if end is not None:
        p_out1 = int(pg.index_of(np.array([_utc(end, "end").value]))[0])
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
    *,
    resolution: int = 9,
    freq: str | pd.Timedelta = "W",
    k_ring: int = 1,
    windows: Sequence[int] = (1, 4, 13, 52),
    kernel_bandwidth_m: float | None = None,
    kernel_window: int = 13,
    near_repeat_m: float = 400.0,
    near_repeat_days: float = 14.0,
    categories: Sequence[str] | None = None,
    max_categories: int = 5,
    category_windows: Sequence[int] = (4, 52),
    location_types: Sequence[str] | None = None,
    max_location_types: int = 5,
    mix_window: int = 52,
    recency_cap: int = 104,
    decay_half_lives: Sequence[float] = (),
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    anchor: pd.Timestamp | str | None = None,
    timezone: str = "UTC",
    extra_counts: Mapping[str, pa.Table] | None = None,
) -> pa.Table:
    """Per study-area cell and period: lagged counts, neighbourhood, kernel and near-repeat features.

    Parameters
    ----------
    incidents
        Silver ``incidents`` rows (``jobs.schemas.INCIDENTS``); needs ``occurred_at``
        (timestamp, UTC) and ``h3`` (resolution 12, or any resolution >= ``resolution``).
        ``lon``/``lat`` (near-repeat distances), ``category`` and ``location_type``
        are used when present. Rows outside ``cells`` are ignored.
    cells
        Study-area cells at ``resolution`` (table with ``h3`` [and ``area_km2``] or
        an array of hex strings), e.g. from :func:`jobs.grid.cells.study_area_cells`.
    resolution
        H3 resolution of ``cells`` (checked).
    freq
        Period length: ``"W"`` (weeks from Monday 00:00 UTC), ``"D"``, ``"8h"`` or a Timedelta.
    k_ring
        Grid distance of the neighbourhood summed into the ``ring_*`` features.
    windows
        Trailing windows, in periods, of the ``lag_1``/``roll_w`` and ``ring_roll_w`` features
        (a window of 1 is the previous period's count, named ``lag_1``).
    kernel_bandwidth_m
        Quartic-kernel bandwidth (metres) over cell centroids for ``kde_intensity``;
        default ``max(400, 2.5 x cell spacing)``.
    kernel_window
        Periods of history smoothed into ``kde_intensity``.
    near_repeat_m, near_repeat_days
        ``near_repeat`` counts incidents within this distance of the cell centroid and
        within this many days before the period start (default 400 m, 14 days).
    categories, max_categories, category_windows
        Categories with their own ``cat_<slug>_roll_w`` features and ``target_cat_<slug>``
        counts; by default the ``max_categories`` most frequent in ``incidents``. Pass
        them explicitly when training and scoring tables must share columns.
    location_types, max_location_types, mix_window
        Location types whose share of the k-ring's incidents over the last ``mix_window``
        periods gives ``loc_<slug>_share`` (plus ``loc_other_share``).
    recency_cap
        ``periods_since_last`` (periods since the cell's last incident) is capped here.
    decay_half_lives
        Half-lives, in periods, of exponentially weighted counts: ``decay_<h>`` is
        ``sum_s C[s] 2^(-(t-1-s)/h)`` over every earlier period ``s``, ``kde_decay_<h>``
        its quartic-kernel smoothing (same kernel as ``kde_intensity``). Long half-lives
        (52, 104 weeks) carry the stable spatial pattern that makes "last year's counts"
        a hard baseline; default none (the table keeps its original columns).
    start, end
        First and last output period (any instant inside them); default the span of
        ``incidents``. History before ``start`` is always used for the features.
    anchor
        Moves the period grid (see :func:`period_grid`).
    timezone
        Time zone of the calendar features (``week_of_year``, ``month``, ``day_of_week``, ``hour``).
    extra_counts
        Optional hook for other feeds: ``{name: table}``, each table with ``h3`` (at
        ``resolution`` or finer), ``period_start`` (timestamp; floored onto the grid) and
        ``value`` (numeric; summed per cell and period), e.g. CDR activity per cell and
        week. Each becomes ``<name>_lag_1`` and ``<name>_roll_w`` features over
        ``windows``; like every feature, only periods before the row's period are read,
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
    grid = resolve_cells(cells, resolution)
    pg = period_grid(freq, anchor)
    if k_ring < 0:
        raise ValueError(f"k_ring must be >= 0, got {k_ring}")
    windows = sorted({int(w) for w in windows})
    if not windows or windows[0] < 1:
        raise ValueError(f"windows must be positive period counts, got {windows}")
    ev = resolve_events(incidents, grid)
    n = len(grid)

    p_out0, p_out1, p_lo = output_span(ev, pg, start, end)
    p_ev = pg.index_of(ev.t_ns)
    in_hist = p_ev <= p_out1
    T = p_out1 - p_lo + 1
    pe = p_ev[in_hist] - p_lo
    ce = ev.cell[in_hist]
    C = _count_matrix(ce, pe, n, T)
    S = _prefix(C)
    t_out = np.arange(p_out0 - p_lo, T)  # column indexes into S = period starts
    n_out = len(t_out)
    cols: dict[str, np.ndarray] = {}

    def put(name: str, mat: np.ndarray, dtype=np.float32) -> None:
        cols[name] = np.ascontiguousarray(mat.T).ravel().astype(dtype)

    ring = grid_weights(grid.index, k_ring, kind="ring") if k_ring > 0 else sparse.identity(n, format="csr")
    for w in windows:
        name = "lag_1" if w == 1 else f"roll_{w}"
        cur = _window(S, t_out, w)
        put(name, cur)
        put(f"ring_{name}", ring @ cur)
    # Long-run mean per period over all history before the period.
    hist_len = np.maximum(t_out, 1).astype(np.float64)
    put("rate_all", S[:, t_out] / hist_len)
    put("ring_rate_all", (ring @ S[:, t_out]) / hist_len)

    # Periods since the cell's last incident, capped (no incident yet -> cap).
    idx = np.where(C > 0, np.arange(T)[None, :], -(10**9))
    last = np.maximum.accumulate(idx, axis=1)
    last_before = np.concatenate([np.full((n, 1), -(10**9)), last[:, :-1]], axis=1)[:, t_out]
    since = np.minimum(t_out[None, :] - last_before, recency_cap)
    put("periods_since_last", since, np.int16)

    # Kernel-smoothed intensity (quartic over centroids), events per km2 per period.
    spacing = float(np.sqrt(np.median(grid.area_km2) * 1e6))
    bw = kernel_bandwidth_m if kernel_bandwidth_m is not None else max(400.0, 2.5 * spacing)
    Q = quartic_weights(grid.xy, bw, normalise=True)
    put("kde_intensity", (Q @ _window(S, t_out, kernel_window)) * 1e6 / kernel_window)
    for h in decay_half_lives:
        if not float(h) > 0:
            raise ValueError(f"decay_half_lives must be positive period counts, got {h}")
        D = _decayed(C, float(h))[:, t_out]
        tag = f"{float(h):g}".replace(".", "_")
        put(f"decay_{tag}", D)
        put(f"kde_decay_{tag}", Q @ D)

    # Near-repeat exposure: events within near_repeat_m of the centroid and within
    # near_repeat_days before the period start, i.e. start in (t, t + days].
    nr = np.zeros((n, T + 1), dtype=np.float64)
    if len(ev.t_ns) and ev.xy is not None:
        tree_c = cKDTree(grid.xy)
        tree_e = cKDTree(ev.xy[in_hist])
        pairs = tree_e.sparse_distance_matrix(tree_c, near_repeat_m, output_type="ndarray")
        e_i = pairs["i"].astype(np.int64)
        c_j = pairs["j"].astype(np.int64)
        t_e = ev.t_ns[in_hist][e_i]
        first = pg.index_of(t_e) + 1 - p_lo
        lastp = pg.index_of(t_e + int(pd.Timedelta(days=near_repeat_days).value)) - p_lo
        first = np.clip(first, 0, T)
        lastp = np.clip(lastp, -1, T - 1)
        ok = lastp >= first
        np.add.at(nr, (c_j[ok], first[ok]), 1.0)
        np.add.at(nr, (c_j[ok], lastp[ok] + 1), -1.0)
    put("near_repeat", np.cumsum(nr, axis=1)[:, t_out])

    # Categories: trailing counts per category; their period counts are targets.
    cat_vocab = _vocab(ev.category, categories, max_categories)
    cat_targets: dict[str, np.ndarray] = {}
    if cat_vocab:
        cat_h = ev.category[in_hist].astype(str) if ev.category is not None else np.array([], dtype=str)
        for c in cat_vocab:
            m = cat_h == c
            Cc = _count_matrix(ce[m], pe[m], n, T)
            Sc = _prefix(Cc)
            for w in category_windows:
                put(f"cat_{_slug(c)}_roll_{int(w)}", _window(Sc, t_out, int(w)))
            cat_targets[f"target_cat_{_slug(c)}"] = np.ascontiguousarray(Cc[:, t_out].T).ravel().astype(np.int32)

    # Location-type mix of the k-ring's incidents over the last mix_window periods.
    lt_vocab = _vocab(ev.location_type, location_types, max_location_types)
    if lt_vocab:
        total = ring @ _window(S, t_out, mix_window)
        denom = np.where(total > 0, total, 1.0)
        lt_h = (
            pd.Series(ev.location_type[in_hist]).fillna("").astype(str).to_numpy()
            if ev.location_type is not None
            else np.array([], dtype=str)
        )
        known = np.zeros(len(lt_h), dtype=bool)
        for lt in lt_vocab:
            m = lt_h == lt
            known |= m
            share = ring @ _window(_prefix(_count_matrix(ce[m], pe[m], n, T)), t_out, mix_window)
            put(f"loc_{_slug(lt)}_share", share / denom)
        other = ring @ _window(_prefix(_count_matrix(ce[~known], pe[~known], n, T)), t_out, mix_window)
        put("loc_other_share", other / denom)

    # Hook for other feeds (CDR activity, OSINT volume...) keyed by cell and period.
    for name, tbl in (extra_counts or {}).items():
        slug = _slug(name)
        for col in ("h3", "period_start", "value"):
            if col not in tbl.column_names:
                raise ValueError(f"extra_counts[{name!r}] needs columns h3, period_start, value; found {tbl.column_names}")
        xt = pg.index_of(timestamps_ns(tbl.column("period_start"), f"extra_counts[{name!r}].period_start"))
        xraw, xvalid = cells_to_uint64(tbl.column("h3"))
        xpar = np.zeros_like(xraw)
        xpar[xvalid] = parent_uint64(xraw[xvalid], grid.resolution)
        xpos = _positions(xpar, xvalid, grid.index)
        val = pc.fill_null(tbl.column("value").cast(pa.float64()), 0.0).to_numpy()
        ok = (xpos >= 0) & (xt >= p_lo) & (xt <= p_out1)
        Sx = _prefix(_count_matrix(xpos[ok], xt[ok] - p_lo, n, T, weights=val[ok]))
        for w in windows:
            put(f"{slug}_lag_1" if w == 1 else f"{slug}_roll_{w}", _window(Sx, t_out, w))

    # Calendar features of the period start in the requested time zone.
    starts = pd.DatetimeIndex(pg.start_ns(t_out + p_lo).astype("datetime64[ns]"), tz="UTC")
    local = starts.tz_convert(timezone)
    cal = {
        "week_of_year": local.isocalendar().week.to_numpy().astype(np.int16),
        "month": local.month.to_numpy().astype(np.int16),
    }
    if pg.step < pd.Timedelta(days=7):
        cal["day_of_week"] = local.dayofweek.to_numpy().astype(np.int16)
    if pg.step < pd.Timedelta(days=1):
        cal["hour"] = local.hour.to_numpy().astype(np.int16)
    for k, v in cal.items():
        cols[k] = np.repeat(v, n)

    target = np.ascontiguousarray(C[:, t_out].T).ravel().astype(np.int32)
    out = {
        "h3": pa.array(np.tile(np.asarray(grid.h3.to_numpy(zero_copy_only=False), dtype=object), n_out), pa.string()),
        "period_start": pa.array(np.repeat(starts.tz_localize(None).to_numpy().astype("datetime64[us]"), n), pa.timestamp("us", tz="UTC")),
    }
    out.update({k: pa.array(v) for k, v in cols.items()})
    out["target"] = pa.array(target)
    out.update({k: pa.array(v) for k, v in cat_targets.items()})
    return pa.table(out)


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
