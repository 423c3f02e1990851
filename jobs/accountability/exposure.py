"""Patrol exposure: how a week's patrol plan spreads over districts, against recorded crime and residents.

A patrol plan (``gold/patrol_plan``) names, for each 8-hour shift, the cells patrols cover. Counted per
district, those cell-shifts are the district's *exposure* to patrols. Three comparisons say whether
that exposure is proportionate:

- to recorded crime: the district's share of the scope's cell-shifts over its share of the incidents
  recorded in the window before the week (``exposure_ratio``; 1 means in proportion);
- to residents, when the spec declares a population layer: cell-shifts per 1,000 residents and the
  share of cell-shifts over the share of residents (``per_capita_ratio``);
- concentration: the Gini coefficient of cell-shifts over districts (``gini``; 0 when every district
  gets the same, ``(n-1)/n`` when one gets all), and its population-weighted version of exposure per
  resident (``gini_per_capita``), tracked week by week.

Both patrols and incidents are placed in districts through their H3 cell (the cell's centroid decides,
so a boundary cell counts wholly in one district): patrols and crime are compared on the same
geography. Nothing here reads or writes files; the asset is ``orchestration/hotspots/exposure.py``.

Notes
-----
Disparity of exposure relative to recorded crime and to residents follows Lum & Isaac (2016), "To
predict and serve?", Significance 13(5); Gini of a non-negative quantity over weighted units by the
Lorenz-curve trapezoid rule (Gastwirth 1972, "The estimation of the Lorenz curve and Gini index",
Rev. Econ. Stat. 54(3)). Areal weighting of residents onto districts: Goodchild & Lam (1980),
"Areal interpolation", GeoProcessing 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.accountability.schemas import EXPOSURE_SCHEMA, SHIFT_SCOPE, WEEK_SCOPE
from jobs.grid.cells import cells_table, cells_to_uint64, parent_cells
from jobs.grid.patrol import SHIFTS_PER_WEEK, shift_index
from jobs.localtime import utc_timestamp

__all__ = ["ExposureParams", "areal_population", "cell_areas", "gini", "patrol_exposure"]

WHOLE_WEEK = "whole week"


@dataclass(frozen=True)
class ExposureParams:
    """What patrols are compared with: the recorded crime of ``crime_window_days`` before the week (what the
    planner could know), on shifts starting ``first_shift_hour`` local time (as ``patrol_plan``'s)."""

    crime_window_days: float = 364.0
    first_shift_hour: int = 6

    def __post_init__(self):
        if not self.crime_window_days > 0:
            raise ValueError(f"crime_window_days must be > 0, got {self.crime_window_days}")

    def to_dict(self) -> dict:
        return asdict(self)


def gini(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Gini coefficient of non-negative ``values`` over units of ``weights`` (default equal); NaN when
    there is nothing to share (no units, or every value 0).

    With equal weights this is ``sum |x_i - x_j| / (2 n^2 mean)``: 0 for equal values, ``(n-1)/n`` when one
    unit holds everything.
    """
    x = np.asarray(values, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if x.shape != w.shape:
        raise ValueError(f"values and weights differ in shape: {x.shape} vs {w.shape}")
    if np.any(x < 0) or np.any(w < 0) or not np.all(np.isfinite(x)) or not np.all(np.isfinite(w)):
        raise ValueError("gini needs finite, non-negative values and weights")
    keep = w > 0
    x, w = x[keep], w[keep]
    total = float((x * w).sum())
    if not len(x) or total <= 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    p = np.r_[0.0, np.cumsum(w[order]) / w.sum()]
    lorenz = np.r_[0.0, np.cumsum((x * w)[order]) / total]
    return float(1.0 - np.sum(np.diff(p) * (lorenz[1:] + lorenz[:-1])))


def _geometries(wkb) -> np.ndarray:
    import shapely

    arr = wkb.to_pylist() if isinstance(wkb, (pa.Array, pa.ChunkedArray)) else list(wkb)
    return shapely.from_wkb(np.asarray(arr, dtype=object))


def cell_areas(h3: Sequence[str] | pa.Array, districts: pa.Table) -> np.ndarray:
    """District (``area_id``) of each H3 cell: the district holding the cell's centroid, else the nearest one.

    ``districts``: ``area_id`` and ``geometry`` (WKB, EPSG:4326). A centroid inside two overlapping
    districts gets the first in the table's order; a centroid outside every district (a boundary cell of
    the covering grid) gets the nearest district. Returns an object array aligned with ``h3``.
    """
    import shapely

    cells, valid = cells_to_uint64(h3)
    if not valid.all():
        bad = list(h3)[int(np.flatnonzero(~valid)[0])]
        raise ValueError(f"not an H3 cell: {bad!r}")
    out = np.full(len(cells), None, dtype=object)
    if not len(cells):
        return out
    unique, back = np.unique(cells, return_inverse=True)
    ct = cells_table(unique)
    points = shapely.points(ct.column("lon").to_numpy(), ct.column("lat").to_numpy())
    tree = shapely.STRtree(_geometries(districts.column("geometry")))
    ids = np.asarray(districts.column("area_id").to_pylist(), dtype=object)
    found = np.full(len(unique), -1, dtype=np.int64)
    pt, poly = tree.query(points, predicate="within")
    for i, j in sorted(zip(pt.tolist(), poly.tolist()), reverse=True):  # the first district wins
        found[i] = j
    left = np.flatnonzero(found < 0)
    if len(left):
        pt, poly = tree.query_nearest(points[left], all_matches=False)
        found[left[pt]] = poly
    return ids[found][back]


def areal_population(districts: pa.Table, polygons: Sequence[bytes] | pa.Array,
                     population: np.ndarray) -> np.ndarray:
    """Residents of each district (``districts`` rows' order) by areal weighting of population polygons.

    Each polygon's count is shared among the districts it overlaps in proportion to the overlap's area
    (measured in the local UTM zone), assuming residents spread evenly inside a polygon. Population
    outside every district is dropped.
    """
    import shapely
    from pyproj import Transformer

    from jobs.geo.points import local_metric_crs

    pop = np.asarray(population, dtype=np.float64)
    src = _geometries(polygons)
    if len(src) != len(pop):
        raise ValueError(f"{len(src)} population polygons but {len(pop)} population values")
    if np.any(~np.isfinite(pop)) or np.any(pop < 0):
        raise ValueError("population values must be finite and >= 0")
    dist = _geometries(districts.column("geometry"))
    x0, y0, x1, y1 = shapely.total_bounds(dist)
    tr = Transformer.from_crs("EPSG:4326", local_metric_crs((x0 + x1) / 2, (y0 + y1) / 2), always_xy=True)

    def metric(g):
        return shapely.make_valid(shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))))

    src, dist = metric(src), metric(dist)
    out = np.zeros(len(dist))
    d_idx, s_idx = shapely.STRtree(src).query(dist, predicate="intersects")
    if len(d_idx):
        area = shapely.area(src[s_idx])
        share = np.where(area > 0, shapely.area(shapely.intersection(dist[d_idx], src[s_idx])) / np.where(
            area > 0, area, 1.0), 0.0)
        np.add.at(out, d_idx, pop[s_idx] * share)
    return out


def _counts(areas: np.ndarray, shifts: np.ndarray, ids: list[str]) -> np.ndarray:
    """``(districts, 21)`` counts of rows by district and shift of the week (rows without a district drop)."""
    pos = {a: i for i, a in enumerate(ids)}
    d = np.array([pos.get(a, -1) for a in areas], dtype=np.int64)
    keep = d >= 0
    out = np.zeros((len(ids), SHIFTS_PER_WEEK), dtype=np.int64)
    np.add.at(out, (d[keep], shifts[keep]), 1)
    return out


def _share(x: np.ndarray) -> np.ndarray:
    total = x.sum()
    return x / total if total > 0 else np.full(len(x), np.nan)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _scope_rows(patrols: np.ndarray, crimes: np.ndarray, pop: np.ndarray) -> dict[str, np.ndarray]:
    """One scope's measures per district (arrays aligned with the districts)."""
    p_share = _share(patrols.astype(np.float64))
    known = np.isfinite(pop) & (pop > 0)
    g_pc = gini(_ratio(patrols, pop)[known], pop[known]) if known.any() else np.nan
    return {"patrol_cell_shifts": patrols, "patrol_share": p_share, "crimes": crimes,
            "crime_share": _share(crimes.astype(np.float64)),
            "exposure_ratio": _ratio(p_share, _share(crimes.astype(np.float64))),
            "population": pop, "patrol_per_1k": _ratio(1000.0 * patrols, pop),
            "per_capita_ratio": _ratio(p_share, _share(np.nan_to_num(pop))),
            "gini": np.full(len(patrols), gini(patrols)), "gini_per_capita": np.full(len(patrols), g_pc)}


def patrol_exposure(plan: pa.Table, incidents: pa.Table, districts: pa.Table, *, week_start, timezone: str = "UTC",
                    params: ExposureParams = ExposureParams(),
                    population: Mapping[str, float] | None = None) -> pa.Table:
    """Exposure of each district to one week's patrol plan, for the whole week and for each shift.

    Parameters
    ----------
    plan
        One week of ``gold/patrol_plan``: ``h3`` (the patrolled cell), ``shift_start`` (UTC) and
        ``shift_label``, one row per patrolled cell and shift.
    incidents
        ``occurred_at`` (UTC) and ``h3`` (any resolution at least the plan's); only those in
        ``[week_start - crime_window_days, week_start)`` count.
    districts
        ``area_id``, ``name`` and ``geometry`` (WKB, EPSG:4326): the study area's districts.
    week_start
        The instant the week starts: its Monday 00:00 local time (``orchestration.hotspots.inputs.local_week_start``).
    timezone
        Local clock of the shifts.
    params
        :class:`ExposureParams`.
    population
        Residents per ``area_id`` (:func:`areal_population`); None: per-capita columns stay null.

    Returns
    -------
    pyarrow.Table
        ``EXPOSURE_SCHEMA`` rows: each district for the whole week (``scope`` = ``week``), then each district
        for each shift present in the plan. Shares of a scope sum to 1 over the districts (null when the
        scope has no patrol or no recorded crime); ratios are null where their denominator is 0.
    """
    week = utc_timestamp(week_start, "week_start")
    missing = [c for c in ("h3", "shift_start", "shift_label") if c not in plan.column_names]
    if missing:
        raise ValueError(f"the patrol plan lacks columns {missing}")
    if plan.num_rows == 0:
        raise ValueError(f"the patrol plan of week {week.date()} has no rows")
    ids = [str(a) for a in districts.column("area_id").to_pylist()]
    names = districts.column("name").to_pylist() if "name" in districts.column_names else ids
    import h3 as h3lib

    resolution = h3lib.get_resolution(plan.column("h3")[0].as_py())
    p_shift = shift_index(plan.column("shift_start").cast(pa.timestamp("ns", tz="UTC")).to_numpy(),
                          timezone=timezone, first_shift_hour=params.first_shift_hour)
    patrols = _counts(cell_areas(plan.column("h3"), districts), p_shift, ids)
    t = incidents.column("occurred_at").cast(pa.timestamp("ns", tz="UTC")).to_numpy()
    lo = week - pd.Timedelta(days=float(params.crime_window_days))
    inside = (t >= np.datetime64(lo.tz_localize(None))) & (t < np.datetime64(week.tz_localize(None)))
    inside &= incidents.column("h3").is_valid().to_numpy(zero_copy_only=False)
    parents = parent_cells(incidents.column("h3").filter(pa.array(inside)), resolution)
    crimes = _counts(cell_areas(parents, districts),
                     shift_index(t[inside], timezone=timezone, first_shift_hour=params.first_shift_hour), ids)
    pop = np.array([np.nan if population is None or population.get(a) is None else float(population[a])
                    for a in ids])
    labels = dict(zip(p_shift.tolist(), plan.column("shift_label").to_pylist()))
    scopes = [(WEEK_SCOPE, None, WHOLE_WEEK, patrols.sum(axis=1), crimes.sum(axis=1))]
    scopes += [(SHIFT_SCOPE, s, labels[s], patrols[:, s], crimes[:, s]) for s in sorted(labels)]
    parts = []
    for scope, shift, label, p, c in scopes:
        rows = _scope_rows(p, c, pop)
        n = len(ids)
        parts.append(pa.table({"week": [week.date().isoformat()] * n, "scope": [scope] * n, "shift": [shift] * n,
                               "shift_label": [label] * n, "area_id": ids, "name": names,
                               **{k: pa.array(v, from_pandas=True) for k, v in rows.items()}},
                              schema=EXPOSURE_SCHEMA))
    return pa.concat_tables(parts)
