"""Map layers for GIS and BI: GeoDataFrames with their CRS, and a DuckDB connection able to read Delta.

DuckDB 2.0 cannot download extensions offline (DESIGN.md); ``duckdb==1.5.5`` with the
``duckdb-extension-spatial`` and ``-delta`` wheels works, each extension loaded by
its full path in site-packages (:func:`duckdb_extension_path`).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

CRS = "EPSG:4326"


def to_geodataframe(table: pa.Table, *, geometry: str = "geometry"):
    """A GeoDataFrame (EPSG:4326) of a table with a WKB ``geometry`` column; list columns become Python lists."""
    import geopandas as gpd
    import shapely

    df = table.drop_columns([geometry]).to_pandas()
    geoms = shapely.from_wkb(table[geometry].to_numpy(zero_copy_only=False))
    return gpd.GeoDataFrame(df, geometry=geoms, crs=CRS)


def duckdb_extension_path(name: str) -> Path:
    """Full path of a DuckDB extension shipped by the ``duckdb-extension-<name>`` wheel."""
    import importlib

    module = importlib.import_module(f"duckdb_extension_{name}")
    root = Path(module.__file__).parent
    found = sorted(root.rglob(f"{name}.duckdb_extension"))
    if not found:
        raise FileNotFoundError(f"no {name}.duckdb_extension under {root}; install duckdb-extension-{name}==<duckdb version>")
    return found[0]


def duckdb_connect(extensions: tuple[str, ...] = ("delta", "spatial")):
    """An in-memory DuckDB connection with the given extensions loaded from their wheels (no download)."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for name in extensions:
        con.load_extension(str(duckdb_extension_path(name)))
    return con
