"""Where phones meet: co-location, co-travel and tower dumps on cell-site sectors.

A CDR row places its *served* phone (caller for outgoing rows, callee for
incoming rows, see :func:`jobs.cdr.served_party`) in the coverage
sector of ``cell_id``. Two phones are co-located when they are served, within
a time window, by the same cell, by cells of the same site, or by cells whose
sector polygons overlap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from jobs.cdr import served_party
from jobs.links.inputs import require_columns, to_timedelta
from jobs.localtime import utc_timestamp
from jobs.links.queries import DurationLike, TimeLike, _phone_list
from jobs.schemas import UTC_TS

_MODES = ("same_cell", "same_site", "overlap")
_EARTH_M = 6_371_008.8


def sector_polygon(
    lon: float, lat: float, azimuth_deg: float | None, beam_width_deg: float | None, range_m: float, *, n_arc: int = 16
) -> shapely.Polygon:
    """Coverage sector of a cell as a lon/lat polygon (a disc when the beam is omnidirectional).

    Uses a local equirectangular projection, accurate to well under 1 % for
    ranges of a few kilometres.
    """
    if not range_m or range_m <= 0:
        raise ValueError(f"range_m must be > 0, got {range_m}")
    dlat = math.degrees(range_m / _EARTH_M)
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-9)
    if azimuth_deg is None or beam_width_deg is None or beam_width_deg >= 360 or np.isnan(beam_width_deg):
        angles = np.linspace(0, 360, 4 * n_arc, endpoint=False)
        pts = [(lon + dlon * math.sin(math.radians(a)), lat + dlat * math.cos(math.radians(a))) for a in angles]
        return shapely.Polygon(pts)
    angles = np.linspace(azimuth_deg - beam_width_deg / 2, azimuth_deg + beam_width_deg / 2, n_arc + 1)
    arc = [(lon + dlon * math.sin(math.radians(a)), lat + dlat * math.cos(math.radians(a))) for a in angles]
    return shapely.Polygon([(lon, lat), *arc, (lon, lat)])


def cell_geometries(cell_sites: pa.Table) -> tuple[list[str], np.ndarray]:
    """Cell ids and their sector polygons (from ``geometry`` WKB, else built from azimuth/beam/range)."""
    require_columns(cell_sites, ["cell_id", "lon", "lat"], "cell_sites")
    df = cell_sites.to_pandas()
    geoms = []
    for row in df.itertuples(index=False):
        wkb = getattr(row, "geometry", None)
        if wkb is not None and not (isinstance(wkb, float) and np.isnan(wkb)):
            geoms.append(shapely.from_wkb(wkb))
            continue
        rng = getattr(row, "range_m", None)
        if rng is None or (isinstance(rng, float) and np.isnan(rng)):
            raise ValueError(f"cell_sites row for cell {row.cell_id!r} has neither geometry nor range_m")
        az = getattr(row, "azimuth_deg", None)
        bw = getattr(row, "beam_width_deg", None)
        az = None if az is None or (isinstance(az, float) and np.isnan(az)) else float(az)
        bw = None if bw is None or (isinstance(bw, float) and np.isnan(bw)) else float(bw)
        geoms.append(sector_polygon(float(row.lon), float(row.lat), az, bw, float(rng)))
    return df["cell_id"].astype(str).tolist(), np.asarray(geoms, dtype=object)


def _distance_m(geoms: np.ndarray, lon: float, lat: float) -> np.ndarray:
    """Metres from (lon, lat) to each geometry (0 inside), in a local equirectangular projection
    centred there (as :func:`sector_polygon` draws them)."""
    kx = math.radians(1) * _EARTH_M * math.cos(math.radians(lat))
    ky = math.radians(1) * _EARTH_M
    local = shapely.transform(geoms, lambda xy: (xy - np.array([lon, lat])) * np.array([kx, ky]))
    return shapely.distance(local, shapely.Point(0.0, 0.0))


def cell_pairs(cell_sites: pa.Table, *, mode: str = "overlap") -> pd.DataFrame:
    """Pairs of cells (both orders and each cell with itself) that count as one place.

    ``same_cell``: a cell with itself; ``same_site``: cells sharing a
    ``site_id``; ``overlap``: cells whose sector polygons intersect
    (ST_Intersects through a shapely STRtree).
    """
    if mode not in _MODES:
        raise ValueError(f"mode={mode!r} is not one of {_MODES}")
    require_columns(cell_sites, ["cell_id"], "cell_sites")
    ids = cell_sites.column("cell_id").to_pylist()
    pairs = [pd.DataFrame({"cell_a": ids, "cell_b": ids})]
    if mode == "same_site" and "site_id" in cell_sites.column_names:
        s = pd.DataFrame({"cell": ids, "site": cell_sites.column("site_id").to_pylist()}).dropna()
        m = s.merge(s, on="site", suffixes=("_a", "_b"))
        pairs.append(m[["cell_a", "cell_b"]].rename(columns={"cell_a": "cell_a", "cell_b": "cell_b"}))
    elif mode == "overlap":
        ids, geoms = cell_geometries(cell_sites)
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        pairs.append(pd.DataFrame({"cell_a": np.asarray(ids)[left], "cell_b": np.asarray(ids)[right]}))
    return pd.concat(pairs, ignore_index=True).drop_duplicates().reset_index(drop=True)


def _served_events(cdr: pa.Table, start: TimeLike | None, end: TimeLike | None) -> pd.DataFrame:
    require_columns(cdr, ["caller", "start_time", "cell_id"], "cdr")
    df = pd.DataFrame(
        {
            "phone": served_party(cdr).to_pandas(),
            "cell": cdr.column("cell_id").to_pandas(),
            "time": cdr.column("start_time").to_pandas(),
            "event_id": cdr.column("event_id").to_pandas() if "event_id" in cdr.column_names else pd.Series(
                [f"row{i}" for i in range(cdr.num_rows)], dtype=object
            ),
        }
    ).dropna(subset=["phone", "cell"])
    if start is not None:
        df = df[df["time"] >= utc_timestamp(start, "start")]
    if end is not None:
        df = df[df["time"] <= utc_timestamp(end, "end")]
    df["t"] = pd.to_datetime(df["time"], utc=True).dt.as_unit("us").astype("int64")
    return df


_COLOC_SCHEMA = pa.schema(
    [
        ("phone_a", pa.string()),
        ("phone_b", pa.string()),
        ("cell_a", pa.string()),
        ("cell_b", pa.string()),
        ("place", pa.string()),
        ("time_a", UTC_TS),
        ("time_b", UTC_TS),
        ("event_a", pa.string()),
        ("event_b", pa.string()),
    ]
)


def colocation(
    cdr: pa.Table,
    cell_sites: pa.Table,
    *,
    window: DurationLike = "15min",
    mode: str = "overlap",
    phones: Sequence[str] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> pa.Table:
    """Pairs of phones served at the same place within ``window`` of each other.

    Parameters
    ----------
    cdr : pyarrow.Table
        ``CDR_EVENTS`` rows with ``cell_id``.
    cell_sites : pyarrow.Table
        ``CELL_SITES`` rows (``geometry`` sector WKB; built from azimuth,
        beam width and range where missing).
    window : duration
        Largest time between the two phones' events.
    mode : str
        ``same_cell``, ``same_site`` or ``overlap`` (default: sectors intersect).
    phones : sequence of str, optional
        Only meetings of these phones (as ``phone_a``) with anyone.
    start, end : datetime, optional
        Time range of the events.

    Returns
    -------
    pyarrow.Table
        One row per pair of events: ``phone_a``, ``phone_b`` (``phone_a <
        phone_b`` unless ``phones`` is given), their cells, ``place`` (the
        site, else the cell, serving ``phone_a``), times and event ids.

    Notes
    -----
    Time-bucketed hash join: events are bucketed by ``window``, each event
    meets events in its own and the adjacent buckets of cells paired by
    :func:`cell_pairs`, then pairs further apart than ``window`` are dropped.
    """
    win = to_timedelta(window, "window").value // 1000
    if win <= 0:
        raise ValueError("window must be longer than zero")
    ev = _served_events(cdr, start, end)
    pairs = cell_pairs(cell_sites, mode=mode)
    site = dict(zip(cell_sites.column("cell_id").to_pylist(), cell_sites.column("site_id").to_pylist())) if (
        "site_id" in cell_sites.column_names
    ) else {}
    ev["bucket"] = ev["t"] // win
    cols = ["phone", "cell", "time", "event_id", "t", "bucket"]
    a = ev[cols]
    wanted = None
    if phones is not None:
        wanted = set(_phone_list(phones, "phones"))
        a = a[a["phone"].isin(wanted)]
    a = a.set_axis([f"{c}_a" for c in cols], axis=1).merge(pairs, left_on="cell_a", right_on="cell_a")
    a = pd.concat([a.assign(bucket_a=a["bucket_a"] + off) for off in (-1, 0, 1)], ignore_index=True)
    b = ev[cols].set_axis([f"{c}_b" for c in cols], axis=1)
    m = a.merge(b, left_on=["cell_b", "bucket_a"], right_on=["cell_b", "bucket_b"])
    m = m[(m["phone_a"] != m["phone_b"]) & ((m["t_a"] - m["t_b"]).abs() <= win)]
    if wanted is None:
        m = m[m["phone_a"] < m["phone_b"]]
    else:
        m = m[~(m["phone_b"].isin(wanted) & (m["phone_a"] > m["phone_b"]))]
    m = m.rename(columns={"event_id_a": "event_a", "event_id_b": "event_b"})
    m = m.assign(place=[site.get(c) or c for c in m["cell_a"]])
    m = m.sort_values(["phone_a", "phone_b", "time_a", "time_b", "event_a", "event_b"])
    m = m.drop_duplicates(subset=["event_a", "event_b"])
    return pa.Table.from_pandas(m[_COLOC_SCHEMA.names], schema=_COLOC_SCHEMA, preserve_index=False)


def co_travel(
    cdr: pa.Table,
    cell_sites: pa.Table,
    *,
    min_places: int = 3,
    window: DurationLike = "15min",
    mode: str = "overlap",
    phones: Sequence[str] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> pa.Table:
    """Pairs of phones co-located at ``min_places`` or more distinct places.

    Parameters are those of :func:`colocation`, plus ``min_places``.

    Returns
    -------
    pyarrow.Table
        ``phone_a``, ``phone_b``, ``n_places``, ``places`` (in order of the
        first meeting there), ``n_meetings``, ``first_met``, ``last_met``,
        sorted by ``n_places`` descending.
    """
    if min_places < 1:
        raise ValueError(f"min_places must be >= 1, got {min_places}")
    coloc = colocation(cdr, cell_sites, window=window, mode=mode, phones=phones, start=start, end=end).to_pandas()
    rows = []
    for (pa_, pb), g in coloc.groupby(["phone_a", "phone_b"], sort=True):
        g = g.sort_values("time_a")
        places = list(dict.fromkeys(g["place"]))
        if len(places) >= min_places:
            rows.append(
                {
                    "phone_a": pa_,
                    "phone_b": pb,
                    "n_places": len(places),
                    "places": places,
                    "n_meetings": len(g),
                    "first_met": g["time_a"].min(),
                    "last_met": g["time_a"].max(),
                }
            )
    schema = pa.schema(
        [
            ("phone_a", pa.string()),
            ("phone_b", pa.string()),
            ("n_places", pa.int64()),
            ("places", pa.list_(pa.string())),
            ("n_meetings", pa.int64()),
            ("first_met", UTC_TS),
            ("last_met", UTC_TS),
        ]
    )
    out = pa.Table.from_pylist(rows, schema=schema)
    if out.num_rows:
        out = out.take(pc.sort_indices(out, [("n_places", "descending"), ("phone_a", "ascending"), ("phone_b", "ascending")]))
    return out


def tower_dump(
    cdr: pa.Table,
    cell_sites: pa.Table,
    *,
    lon: float,
    lat: float,
    time: TimeLike,
    before: DurationLike = "1h",
    after: DurationLike = "1h",
    radius_m: float = 0.0,
) -> pa.Table:
    """Phones served by any cell whose sector covers an incident point (or comes within ``radius_m`` of
    it), around its time.

    Parameters
    ----------
    cdr : pyarrow.Table
        ``CDR_EVENTS`` rows.
    cell_sites : pyarrow.Table
        ``CELL_SITES`` rows.
    lon, lat : float
        Incident location (EPSG:4326).
    time : datetime or str
        Incident time.
    before, after : duration
        Window ``[time - before, time + after]``.
    radius_m : float
        0 (default): the cells whose sector covers the point. Above 0 also the cells whose sector
        lies within this many metres of it (a GPS fix off by a street, a sector edge drawn short).

    Returns
    -------
    pyarrow.Table
        ``phone``, ``n_events``, ``first_seen``, ``last_seen``, ``cells``
        (list), ``event_ids`` (list), sorted by ``first_seen``. The table's
        metadata key ``cells`` lists the covering cells.

    Notes
    -----
    A "tower dump" (cell-site dump) as used in criminal investigations;
    sector coverage is ST_Covers(sector, point) through shapely.
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"lon/lat ({lon}, {lat}) are not EPSG:4326 degrees")
    t0 = utc_timestamp(time, "time")
    if not radius_m >= 0:
        raise ValueError(f"radius_m must be >= 0 metres, got {radius_m}")
    ids, geoms = cell_geometries(cell_sites)
    if radius_m > 0:
        near = _distance_m(geoms, lon, lat) <= radius_m
    else:
        near = shapely.covers(geoms, shapely.Point(lon, lat))
    covering = [c for c, g in zip(ids, near) if g]
    ev = _served_events(cdr, t0 - to_timedelta(before, "before"), t0 + to_timedelta(after, "after"))
    ev = ev[ev["cell"].isin(covering)].sort_values(["time", "event_id"])
    agg = (
        ev.groupby("phone", sort=True)
        .agg(
            n_events=("event_id", "size"),
            first_seen=("time", "min"),
            last_seen=("time", "max"),
            cells=("cell", lambda s: list(dict.fromkeys(s))),
            event_ids=("event_id", list),
        )
        .reset_index()
        .sort_values(["first_seen", "phone"])
    )
    schema = pa.schema(
        [
            ("phone", pa.string()),
            ("n_events", pa.int64()),
            ("first_seen", UTC_TS),
            ("last_seen", UTC_TS),
            ("cells", pa.list_(pa.string())),
            ("event_ids", pa.list_(pa.string())),
        ],
        metadata={b"cells": ",".join(covering).encode()},
    )
    if agg.empty:
        return schema.empty_table()
    return pa.Table.from_pandas(agg[schema.names], schema=schema, preserve_index=False)
