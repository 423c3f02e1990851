"""Map layers for GIS: GeoDataFrames with their CRS.

A DuckDB connection able to read the Delta tables (extensions loaded by full path,
no download) is ``orchestration.platform.bi.connect``.
"""

from __future__ import annotations

import pyarrow as pa

CRS = "EPSG:4326"


def to_geodataframe(table: pa.Table, *, geometry: str = "geometry"):
    """A GeoDataFrame (EPSG:4326) of a table with a WKB ``geometry`` column; list columns become Python lists."""
    import geopandas as gpd
    import shapely

    df = table.drop_columns([geometry]).to_pandas()
    geoms = shapely.from_wkb(table[geometry].to_numpy(zero_copy_only=False))
    return gpd.GeoDataFrame(df, geometry=geoms, crs=CRS)
