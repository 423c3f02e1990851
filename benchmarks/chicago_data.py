"""Loader for the bundled Chicago aggravated-assault data (benchmarks and tests only).

The silver ``incidents`` builder owns the real ingestion; this helper shapes the
bundled CSV into the columns the forecasting kernels read (``occurred_at`` UTC,
``category``, ``location_type``, ``lon``, ``lat``, ``h3`` at resolution 12,
``district``) and reads the 25 police-district polygons as WKB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
_SHARED = REPO.parent / "shared" / "data"
CSV = "chicago/aggravated_assaults_2010_2017.csv.gz"
KML = "chicago/police_districts.kml"


def data_path(rel: str) -> Path:
    """The bundled file in the repo's ``data/`` first, else ``../shared/data``."""
    for base in (REPO / "data", _SHARED):
        p = base / rel
        if p.exists():
            return p
    raise FileNotFoundError(f"{rel} not found under {REPO / 'data'} or {_SHARED}")


def load_incidents(path: Path | None = None) -> pa.Table:
    """Chicago CSV -> incidents-shaped Arrow table (local America/Chicago -> UTC, res-12 h3)."""
    import h3ronpy
    import h3ronpy.vector as h3v

    df = pd.read_csv(path or data_path(CSV), compression="gzip")
    local = pd.to_datetime(df["date"], format="%Y-%m-%d %H:%M")
    # Ambiguous/nonexistent local times at DST changes are resolved by shifting.
    utc = local.dt.tz_localize("America/Chicago", ambiguous="NaT", nonexistent="shift_forward")
    utc = utc.fillna(local.dt.tz_localize("America/Chicago", ambiguous=True, nonexistent="shift_forward"))
    utc = utc.dt.tz_convert("UTC")
    ok = df["longitude"].notna() & df["latitude"].notna()
    df, utc = df[ok].reset_index(drop=True), utc[ok].reset_index(drop=True)
    lat = df["latitude"].to_numpy(np.float64)
    lon = df["longitude"].to_numpy(np.float64)
    cells = pa.array(h3v.coordinates_to_cells(pa.array(lat), pa.array(lon), 12))
    h3 = pa.array(h3ronpy.cells_to_string(cells)).cast(pa.string())
    return pa.table(
        {
            "occurred_at": pa.array(utc.dt.tz_localize(None).to_numpy().astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
            "category": pa.array(np.full(len(df), "aggravated_assault", dtype=object), pa.string()),
            "location_type": pa.array(df["loc_cat"].astype("string").to_numpy(dtype=object, na_value=None), pa.string()),
            "lon": pa.array(lon),
            "lat": pa.array(lat),
            "h3": h3,
            "district": pa.array(df["district"].astype("string").to_numpy(dtype=object, na_value=None), pa.string()),
        }
    )


def load_districts(path: Path | None = None) -> pa.Array:
    """The 25 police-district (multi)polygons as WKB, EPSG:4326."""
    import pyogrio
    import shapely

    gdf = pyogrio.read_dataframe(path or data_path(KML))
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    return pa.array(shapely.to_wkb(shapely.force_2d(gdf.geometry.values)), pa.binary())
