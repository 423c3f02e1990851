"""Map layers for GIS: GeoDataFrames with their CRS.

A DuckDB connection able to read the Delta tables (extensions loaded by full path,
no download) is ``orchestration.platform.bi.connect``.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

CRS = "EPSG:4326"


def to_geodataframe(table: pa.Table, *, geometry: str = "geometry"):
    """A GeoDataFrame (EPSG:4326) of a table with a WKB ``geometry`` column; list columns become Python lists."""
    import geopandas as gpd
    import shapely

    df = table.drop_columns([geometry]).to_pandas()
    geoms = shapely.from_wkb(table[geometry].to_numpy(zero_copy_only=False))
    return gpd.GeoDataFrame(df, geometry=geoms, crs=CRS)


def window_start(latest: dt.datetime | None, days: int) -> dt.datetime | None:
    """Midnight (UTC) of the first of the ``days`` UTC days that end with ``latest``'s day; ``None`` without events."""
    if latest is None:
        return None
    return dt.datetime.combine(latest.date(), dt.time(), tzinfo=dt.timezone.utc) - dt.timedelta(days=days - 1)


def window_days(first: dt.datetime, days: int) -> list[dt.datetime]:
    """The ``days`` consecutive days from ``first``."""
    return [first + dt.timedelta(days=k) for k in range(days)]
