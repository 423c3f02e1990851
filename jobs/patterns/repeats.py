"""Repeat locations, repeat victims and repeat offenders.

A repeat is a place or a person with at least ``min_incidents`` incidents
inside an analysis window. Each repeat row carries its count, first and last
incident times and the gaps between consecutive incidents (minimum, median).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from jobs.patterns.schemas import REPEATS_SCHEMA

__all__ = ["repeat_locations", "repeat_people", "repeats"]


def _window(incidents: pa.Table, window_days: float | None, end: dt.datetime | None) -> pa.Table:
    if "occurred_at" not in incidents.column_names:
        raise ValueError(f"incident table lacks occurred_at; it has {incidents.column_names}")
    if window_days is None or incidents.num_rows == 0:
        return incidents
    if not window_days > 0:
        raise ValueError(f"window_days must be > 0 or None, got {window_days}")
    ts = incidents["occurred_at"]
    stop = end if end is not None else pc.max(ts).as_py()
    if stop.tzinfo is None:
        stop = stop.replace(tzinfo=dt.timezone.utc)
    start = stop - dt.timedelta(days=window_days)
    ts_type = ts.type
    mask = pc.and_(pc.greater(ts, pa.scalar(start, ts_type)), pc.less_equal(ts, pa.scalar(stop, ts_type)))
    return incidents.filter(mask)


def _groups(kind: str, keys: np.ndarray, rows: np.ndarray, incidents: pa.Table, min_incidents: int,
            with_position: bool) -> pa.Table:
    """One repeat row per key with at least ``min_incidents`` distinct incidents."""
    if len(keys) == 0:
        return REPEATS_SCHEMA.empty_table()
    us = pc.cast(incidents["occurred_at"].cast(pa.timestamp("us", tz="UTC")), pa.int64()).to_numpy()
    ids = np.asarray(incidents["incident_id"].to_pylist(), dtype=object)
    lon = incidents["lon"].to_numpy(zero_copy_only=False) if with_position else None
    lat = incidents["lat"].to_numpy(zero_copy_only=False) if with_position else None
    order = np.lexsort((us[rows], keys))
    keys, rows = keys[order], rows[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    out: dict[str, list[Any]] = {f.name: [] for f in REPEATS_SCHEMA}
    for a, b in zip(starts, ends):
        r = np.unique(rows[a:b])  # one person listed twice on one incident counts once
        if len(r) < min_incidents:
            continue
        r = r[np.argsort(us[r], kind="stable")]
        gaps = np.diff(us[r]) / 86_400e6
        out["kind"].append(kind)
        out["key"].append(str(keys[a]))
        out["n_incidents"].append(len(r))
        out["first_at"].append(int(us[r[0]]))
        out["last_at"].append(int(us[r[-1]]))
        out["min_gap_days"].append(float(gaps.min()))
        out["median_gap_days"].append(float(np.median(gaps)))
        out["lon"].append(float(np.nanmean(lon[r])) if with_position else None)
        out["lat"].append(float(np.nanmean(lat[r])) if with_position else None)
        out["incident_ids"].append(ids[r].tolist())
    arrays = [pa.array(out[f.name], pa.int64() if f.name in ("first_at", "last_at") else f.type) for f in REPEATS_SCHEMA]
    arrays[3] = arrays[3].cast(REPEATS_SCHEMA.field("first_at").type)
    arrays[4] = arrays[4].cast(REPEATS_SCHEMA.field("last_at").type)
    table = pa.Table.from_arrays(arrays, schema=REPEATS_SCHEMA)
    return table.sort_by([("n_incidents", "descending"), ("key", "ascending")])


def repeat_locations(
    incidents: pa.Table,
    *,
    resolution: int = 12,
    radius_m: float | None = None,
    min_incidents: int = 2,
    window_days: float | None = 365.0,
    end: dt.datetime | None = None,
    crs: str | None = None,
) -> pa.Table:
    """Places with several incidents in the window.

    Parameters
    ----------
    incidents : pyarrow.Table
        ``incident_id, occurred_at, lon, lat`` and ``h3`` (resolution 12) when
        ``radius_m`` is None.
    resolution : int
        H3 resolution of a "place" (12: cells of ~300 m2, about one address);
        coarser cells are parents of the stored ``h3``.
    radius_m : float, optional
        Instead of cells: incidents within ``radius_m`` of each other (chained,
        single linkage) form one place, keyed ``L-<first incident id>``.
    min_incidents : int
        Smallest count of a repeat (at least 2).
    window_days : float or None
        Only incidents in the ``window_days`` days ending at ``end`` (default:
        the latest incident); None: all.
    end : datetime, optional
        End of the window.
    crs : str, optional
        Metric CRS for ``radius_m``; default the data's UTM zone.

    Returns
    -------
    pyarrow.Table
        :data:`REPEATS_SCHEMA` rows with ``kind = "location"``.

    Notes
    -----
    Repeat victimisation of places (Farrell and Pease, 1993, *Once Bitten, Twice
    Bitten*; Johnson, 2008, "Repeat burglary victimisation: a tale of two
    theories", *J. Exp. Criminol.* 4) measured as counts and inter-event gaps.
    """
    if min_incidents < 2:
        raise ValueError(f"min_incidents must be >= 2, got {min_incidents}")
    inc = _window(incidents, window_days, end)
    located = pc.and_(pc.is_valid(inc["lon"]), pc.is_valid(inc["lat"]))
    inc = inc.filter(located)
    if inc.num_rows == 0:
        return REPEATS_SCHEMA.empty_table()
    rows = np.arange(inc.num_rows)
    if radius_m is None:
        if "h3" not in inc.column_names:
            raise ValueError("incident table lacks h3; give radius_m or add H3 cells (jobs.geo.points.h3_cells)")
        if not 0 <= resolution <= 15:
            raise ValueError(f"resolution must be 0..15, got {resolution}")
        from jobs.geo.points import h3_parent

        cells = inc["h3"].combine_chunks()
        if resolution != 12:
            cells = h3_parent(cells, resolution)
        keys = np.asarray(cells.to_pylist(), dtype=object)
        valid = np.array([k is not None for k in keys])
        return _groups("location", keys[valid].astype(str), rows[valid], inc, min_incidents, True)
    if not radius_m > 0:
        raise ValueError(f"radius_m must be > 0, got {radius_m}")
    from jobs.patterns.crime_series import metric_xy

    x, y, _ = metric_xy(inc["lon"].to_numpy(), inc["lat"].to_numpy(), crs)
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(r=radius_m, output_type="ndarray")
    n = inc.num_rows
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)) if len(pairs) else \
        sparse.coo_matrix((n, n))
    _, labels = connected_components(graph, directed=False)
    ids = np.asarray(inc["incident_id"].to_pylist(), dtype=object)
    first_id: dict[int, str] = {}
    for lab, iid in zip(labels.tolist(), ids.tolist()):
        first_id[lab] = min(first_id.get(lab, iid), iid)
    keys = np.array([f"L-{first_id[v]}" for v in labels.tolist()], dtype=object).astype(str)
    return _groups("location", keys, rows, inc, min_incidents, True)


def repeat_people(
    incidents: pa.Table,
    column: str,
    *,
    kind: str | None = None,
    min_incidents: int = 2,
    window_days: float | None = 365.0,
    end: dt.datetime | None = None,
) -> pa.Table:
    """Persons (victims or offenders) named on several incidents in the window.

    Parameters
    ----------
    incidents : pyarrow.Table
        ``incident_id, occurred_at`` and ``column``, a list of person ids
        (``victim_ids`` or ``offender_ids``).
    column : str
        The list column.
    kind : str, optional
        Value of the ``kind`` column; default ``victim`` for ``victim_ids``,
        ``offender`` for ``offender_ids``, else ``column``.
    min_incidents, window_days, end
        As in :func:`repeat_locations`.

    Returns
    -------
    pyarrow.Table
        :data:`REPEATS_SCHEMA` rows (``lon``/``lat`` null).

    Notes
    -----
    Repeat victims and prolific offenders (Farrell and Pease, 1993; Everson and
    Pease, 2001, "Crime against the same person and place").
    """
    if min_incidents < 2:
        raise ValueError(f"min_incidents must be >= 2, got {min_incidents}")
    if column not in incidents.column_names:
        raise ValueError(f"incident table lacks {column!r}; it has {incidents.column_names}")
    if not pa.types.is_list(incidents[column].type) and not pa.types.is_large_list(incidents[column].type):
        raise TypeError(f"{column} must be a list of person ids, got {incidents[column].type}")
    kind = kind or {"victim_ids": "victim", "offender_ids": "offender"}.get(column, column)
    inc = _window(incidents, window_days, end)
    lists = inc[column].combine_chunks()
    if len(lists) == 0:
        return REPEATS_SCHEMA.empty_table()
    flat = pc.list_flatten(lists)
    parent = pc.list_parent_indices(lists).to_numpy()
    valid = pc.is_valid(flat).to_numpy(zero_copy_only=False)
    keys = np.asarray(flat.to_pylist(), dtype=object)[valid].astype(str)
    return _groups(kind, keys, parent[valid].astype(np.int64), inc, min_incidents, False)


def repeats(
    incidents: pa.Table,
    *,
    resolution: int = 12,
    radius_m: float | None = None,
    min_incidents: int = 2,
    window_days: float | None = 365.0,
    end: dt.datetime | None = None,
) -> pa.Table:
    """Repeat locations, victims and offenders in one :data:`REPEATS_SCHEMA` table.

    Victims and offenders are included when ``victim_ids`` / ``offender_ids``
    columns are present. Parameters as in :func:`repeat_locations`.
    """
    parts = [repeat_locations(incidents, resolution=resolution, radius_m=radius_m, min_incidents=min_incidents,
                              window_days=window_days, end=end)]
    if end is None and window_days is not None and incidents.num_rows:
        end = pc.max(incidents["occurred_at"]).as_py()  # one window for all kinds
    for column in ("victim_ids", "offender_ids"):
        if column in incidents.column_names:
            parts.append(repeat_people(incidents, column, min_incidents=min_incidents, window_days=window_days, end=end))
    return pa.concat_tables(parts)
