"""Read a study area's boundary layer file (KML, GeoPackage, GeoJSON, Shapefile) with pyogrio."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from jobs.geo.boundaries import boundary_rows
from jobs.ingest.spec import SourceSpec, SpecError


def layer_name(spec: SourceSpec) -> str:
    sa = spec.study_area
    if sa is None:
        raise SpecError(f"spec {spec.name!r} has no study_area")
    return sa.layer_name or Path(sa.boundary).stem


def read_boundaries(spec: SourceSpec) -> pa.Table:
    """The spec's study-area polygons as ``BOUNDARIES`` rows (reprojected to EPSG:4326)."""
    import pyogrio

    sa = spec.study_area
    if sa is None:
        raise SpecError(f"spec {spec.name!r} has no study_area")
    path = spec.boundary_path()
    if not path.is_file():
        raise SpecError(f"spec {spec.name!r}: study-area boundary file not found: {path}")
    try:
        meta, table = pyogrio.read_arrow(path)
    except Exception as exc:  # pyogrio's DataSourceError / DataLayerError, GDAL's own
        raise SpecError(f"spec {spec.name!r}: study_area.boundary {path} is not a readable vector layer "
                        f"(KML, GeoPackage, GeoJSON, Shapefile): {exc}") from None
    if not meta.get("geometry_name") and "wkb_geometry" not in table.column_names:
        raise SpecError(f"spec {spec.name!r}: study_area.boundary {path} has no geometry: a study area is a "
                        f"layer of polygons")
    fields = [f for f in table.column_names]
    if sa.id_field not in fields:
        raise SpecError(f"{path}: no field {sa.id_field!r} for study_area.id_field; fields are {fields}")
    if sa.name_field and sa.name_field not in fields:
        raise SpecError(f"{path}: no field {sa.name_field!r} for study_area.name_field; fields are {fields}")
    try:
        return _rows(spec, meta, table)
    except Exception as exc:  # a broken geometry, an unknown CRS: name the file, never a traceback
        raise SpecError(f"spec {spec.name!r}: study_area.boundary {path}: cannot use its polygons: {exc}") from None


def _rows(spec: SourceSpec, meta: dict, table: pa.Table) -> pa.Table:
    sa = spec.study_area
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


def read_map_layers(spec: SourceSpec) -> list:
    """The spec's ``map_layers`` as :class:`jobs.maps.layers.VectorLayer` (WKB in EPSG:4326, labels from
    ``label_field``); a missing or unreadable file is a :class:`SpecError` naming the spec, layer and file."""
    import numpy as np
    import pyogrio
    import shapely

    from jobs.maps.layers import VectorLayer

    out = []
    for ml in spec.map_layers:
        path = spec.confine(ml.resolve(spec.base_dir), f"map_layers {ml.name!r} file")
        if not path.is_file():
            raise SpecError(f"spec {spec.name!r}: map layer {ml.name!r}: file not found: {path}")
        try:
            meta, table = pyogrio.read_arrow(path, layer=ml.layer)
        except Exception as exc:  # pyogrio's DataSourceError / DataLayerError, GDAL's own
            raise SpecError(f"spec {spec.name!r}: map layer {ml.name!r}: {path} is not a readable vector layer: "
                            f"{exc}") from None
        if ml.label_field and ml.label_field not in table.column_names:
            raise SpecError(f"{path}: no field {ml.label_field!r} for map layer {ml.name!r}'s label_field; fields "
                            f"are {[c for c in table.column_names if c != meta.get('geometry_name')]}")
        geom_name = meta.get("geometry_name") or "wkb_geometry"
        wkb = table[geom_name].combine_chunks()
        if isinstance(wkb, pa.ExtensionArray):
            wkb = wkb.storage
        geoms = wkb.to_numpy(zero_copy_only=False)
        crs = meta.get("crs") or "EPSG:4326"
        try:
            if crs.upper() not in ("EPSG:4326", "OGC:CRS84"):
                from pyproj import Transformer

                tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
                geoms = shapely.to_wkb(shapely.transform(
                    shapely.from_wkb(geoms), lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))))
        except Exception as exc:  # an unknown CRS or a broken geometry: name the file
            raise SpecError(f"spec {spec.name!r}: map layer {ml.name!r}: {path}: cannot reproject: {exc}") from None
        labels = None
        if ml.label_field:
            labels = [None if v is None else str(v) for v in table[ml.label_field].to_pylist()]
        out.append(VectorLayer(ml.name, list(geoms), labels, colour=ml.colour, weight=ml.weight))
    return out
