"""Gold tables of the pattern analyses: their schemas, and their rows from the kernels' results.

``near_repeat`` is the Knox test as a long table (one row per distance x time
band of each source and category); ``hotspots_gi`` the Gi* cells of each
boundary layer with their hexagons. Both record what produced them (settings,
window, the silver ``incidents`` version read), so a row can be traced back.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.patterns.near_repeat import KnoxResult
from jobs.patterns.schemas import NEAR_REPEAT_SCHEMA

__all__ = ["ENRICHMENT_TABLE", "gi_rows", "knox_rows", "last_days"]

#: Silver table of incident enrichment (MO text, weapon, offender and victim ids).
ENRICHMENT_TABLE = "incident_enrichment"


def last_days(table: pa.Table, days: float | None, column: str = "occurred_at") -> tuple[pa.Table, object, object]:
    """Rows in the ``days`` days ending at the latest one (all rows when ``days`` is None or <= 0); also the
    window bounds."""
    if table.num_rows == 0:
        return table, None, None
    end = pc.max(table[column]).as_py()
    if days is None or days <= 0:
        return table, pc.min(table[column]).as_py(), end
    start = end - dt.timedelta(days=days)
    ts = table[column].type
    return table.filter(pc.greater(table[column], pa.scalar(start, ts))), start, end


def knox_rows(res: KnoxResult, *, source: str, category: str, seed: int, method: str, metric_crs: str, tz: str,
              window_start, window_end, incidents_version: int | None) -> pa.Table:
    """One :data:`NEAR_REPEAT_SCHEMA` row per (spatial band, temporal band) of a Knox test."""
    n_s, n_t = res.observed.shape
    si, ti = np.divmod(np.arange(n_s * n_t), n_t)
    k = n_s * n_t
    return pa.table({
        "source": [source] * k, "category": [category] * k,
        "s_lo": np.asarray(res.sds)[si], "s_hi": np.asarray(res.sds)[si + 1],
        "t_lo": np.asarray(res.tds)[ti], "t_hi": np.asarray(res.tds)[ti + 1],
        "observed": res.observed.ravel(), "expected": res.expected.ravel(),
        "expected_sd": res.expected_sd.ravel(), "knox_ratio": res.knox_ratio.ravel(),
        "p_value": res.p_value.ravel(),
        "n_events": [res.n_events] * k, "n_pairs": [res.n_pairs] * k, "nrep": [res.nrep] * k,
        "seed": [seed] * k, "method": [method] * k, "metric_crs": [metric_crs] * k,
        "timezone": [tz] * k, "window_start": [window_start] * k, "window_end": [window_end] * k,
        "incidents_version": [incidents_version] * k,
    }, schema=NEAR_REPEAT_SCHEMA)


def gi_rows(gi: pa.Table, polys: list, *, layer: str, resolution: int, k: int, window_start, window_end,
            incidents_version: int | None) -> pa.Table:
    """Gold ``hotspots_gi`` rows of one layer: the :func:`jobs.patterns.gi_star.gi_star` table with its layer, the
    centre (lon/lat) and hexagon (WKB) of each cell (``polys``, in the table's order), the settings and window."""
    import shapely

    centres = shapely.centroid(np.asarray(polys, dtype=object))
    n = gi.num_rows
    return (
        gi.add_column(0, "layer", pa.array([layer] * n, pa.string()))
        .append_column("lon", pa.array(shapely.get_x(centres)))
        .append_column("lat", pa.array(shapely.get_y(centres)))
        .append_column("geometry", pa.array(shapely.to_wkb(np.asarray(polys, dtype=object)), pa.binary()))
        .append_column("resolution", pa.array([resolution] * n, pa.int8()))
        .append_column("k", pa.array([k] * n, pa.int8()))
        .append_column("window_start", pa.array([window_start] * n, pa.timestamp("us", tz="UTC")))
        .append_column("window_end", pa.array([window_end] * n, pa.timestamp("us", tz="UTC")))
        .append_column("incidents_version", pa.array([incidents_version] * n, pa.int64()))
    )
