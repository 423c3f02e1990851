"""Boundary layers (districts, precincts) as canonical ``BOUNDARIES`` rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from jobs.schemas import BOUNDARIES


def boundary_rows(layer: str, area_ids: np.ndarray, names: np.ndarray | None, wkb: np.ndarray) -> pa.Table:
    """Normalise polygons into ``BOUNDARIES`` rows; parts sharing an id are merged.

    Multi-part areas (a district drawn as several placemarks) become one
    (multi)polygon per id, so that a point gets exactly one area.
    """
    import shapely
    from pyproj import Geod

    geoms = shapely.from_wkb(np.asarray(wkb, dtype=object))
    geoms = shapely.make_valid(shapely.force_2d(geoms))
    ids = np.array([str(a) for a in area_ids], dtype=object)
    names_arr = np.array([None if v is None else str(v) for v in (names if names is not None else ids)], dtype=object)
    order = sorted(set(ids), key=lambda s: (len(s), s))
    merged, merged_names = [], []
    for area in order:
        sel = ids == area
        merged.append(shapely.union_all(geoms[sel]))
        merged_names.append(next((n for n in names_arr[sel] if n), area))
    geod = Geod(ellps="WGS84")
    areas_km2 = [abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in merged]
    return pa.table(
        {
            "layer": pa.array([layer] * len(order), pa.string()),
            "area_id": pa.array(order, pa.string()),
            "name": pa.array(merged_names, pa.string()),
            "geometry": pa.array(shapely.to_wkb(np.array(merged, dtype=object)).tolist(), pa.binary()),
            "area_km2": pa.array(areas_km2, pa.float64()),
        }
    ).cast(BOUNDARIES)
