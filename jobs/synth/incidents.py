"""Shape the bundled crime-mapping extracts into the incident table the generator lays over."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def from_crimemapping(raw: pa.Table, *, category: str = "aggravated_assault",
                      source: str = "chicago") -> pa.Table:
    """Turn a ``crimemappingdata`` extract (``date``, ``loc_cat``, ``longitude``, ``latitude``)
    into ``incident_id, occurred_at (UTC), lon, lat, category, location_type``.

    ``date`` is local Chicago time at minute precision (``2017-03-02 14:05``), as in
    ``data/chicago/aggravated_assaults_2010_2017.csv.gz``. Ids are ``<source>-<row>``.
    This is for the synthetic demo and tests; production ingestion goes through
    the source specs.
    """
    missing = [c for c in ("date", "loc_cat", "longitude", "latitude") if c not in raw.column_names]
    if missing:
        raise ValueError(f"crime-mapping table lacks columns {missing}; it has {raw.column_names}")
    date = raw["date"]
    if pa.types.is_timestamp(date.type):
        date = pc.strftime(date, format="%Y-%m-%d %H:%M")
    local = pc.strptime(date, format="%Y-%m-%d %H:%M", unit="s")
    utc = pc.assume_timezone(local, timezone="America/Chicago", ambiguous="earliest",
                             nonexistent="earliest").cast(pa.timestamp("us", tz="UTC"))
    n = raw.num_rows
    ids = pc.binary_join_element_wise(f"{source}-", pa.array(range(n), pa.int64()).cast(pa.string()), "")
    return pa.table({
        "incident_id": ids,
        "occurred_at": utc,
        "lon": raw["longitude"].cast(pa.float64()),
        "lat": raw["latitude"].cast(pa.float64()),
        "category": pa.array([category] * n, pa.string()),
        "location_type": raw["loc_cat"].cast(pa.string()),
    })
