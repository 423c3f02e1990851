"""Read a study area's boundary layer file (KML, GeoPackage, GeoJSON, Shapefile) with pyogrio."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from jobs.geo.boundaries import boundary_rows
from jobs.ingest.spec import SourceSpec, SpecError


def layer_name(spec: SourceSpec) -> str:
    sa = spec.study_area
    assert sa is not None  # callers check spec.study_area first
    return sa.layer_name or Path(sa.boundary).stem


def read_boundaries(spec: SourceSpec) -> pa.Table:
    """The spec's study-area polygons as ``BOUNDARIES`` rows (reprojected to EPSG:4326)."""
    import pyogrio

    sa = spec.study_area
    if sa is None:
        raise SpecError(f"spec {spec.name!r} has no study_area")
    path = sa.resolve(spec.base_dir)
    if not path.is_file():
        raise SpecError(f"spec {spec.name!r}: study-area boundary file not found: {path}")
    meta, table = pyogrio.read_arrow(path, layer=spec.format.layer if spec.format.kind in ("gpkg", "kml") and False else None)
    fields = [f for f in table.column_names]
    if sa.id_field not in fields:
        raise SpecError(f"{path}: no field {sa.id_field!r} for study_area.id_field; fields are {fields}")
    geom_name = meta["geometry_name"] or "wkb_geometry"
    wkb = table[geom_name].combine_chunks()
    if isinstance(wkb, pa.ExtensionArray):
        wkb = wkb.storage
    crs = meta.get("crs") or "EPSG:4326"
    geoms = wkb.to_numpy(zero_copy_only=False)
    if crs.upper() not in ("EPSG:4326", "OGC:CRS84"):
        import numpy as np
        import shapely
        from pyproj import Transformer

        t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        shp = shapely.transform(shapely.from_wkb(geoms), lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        geoms = shapely.to_wkb(shp)
    names = table[sa.name_field].to_numpy(zero_copy_only=False) if sa.name_field else None
    return boundary_rows(layer_name(spec), table[sa.id_field].to_numpy(zero_copy_only=False), names, geoms)
