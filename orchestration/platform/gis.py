"""GIS files of the lakehouse's geometry: GeoParquet (GeoParquet 1.1) and GeoPackage, for QGIS, GDAL, geopandas.

Every export (``hotspots_gi``, the forecast cells, ``fusion_map_layers``)
writes through :func:`write_geoparquet`: an Arrow table whose ``geometry``
column holds WKB in EPSG:4326 (lon/lat), written as it is (its Arrow types
kept, no pandas round trip), with the ``geo`` file metadata of GeoParquet 1.1:
``version``, ``primary_column`` and, for the column, ``encoding`` (WKB),
``geometry_types`` (the types found, e.g. ``["Polygon"]``), ``crs`` (PROJJSON)
and ``bbox``. GDAL's Parquet driver (GDAL >= 3.8 built with Arrow, as in QGIS
3.34+) opens such a file as a layer of that geometry type and CRS.

:func:`write_geopackage` and :func:`geoparquet_to_geopackage` write a
GeoPackage layer whose geometry type is declared (``POINT``, ``POLYGON``,
``MULTIPOLYGON``... in ``gpkg_geometry_columns``), never ``GEOMETRY``: a
GeoPackage is what a GDAL without the Parquet driver reads.

Notes
-----
GeoParquet 1.1.0 specification (OGC GeoParquet, ``format-specs/geoparquet.md``):
WKB is ISO WKB in (x, y) = (lon, lat) order whatever the CRS's axis order; a
missing ``crs`` means OGC:CRS84. GeoPackage 1.3 (OGC 12-128r18), table
``gpkg_geometry_columns``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa

#: The CRS of every geometry in the lakehouse (lon/lat).
CRS = "EPSG:4326"
GEOPARQUET_VERSION = "1.1.0"

# shapely's type ids 0..7 and their GeoParquet names (WKB has no ring: shapely writes one as a LineString)
_TYPE_NAMES = ("Point", "LineString", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
               "GeometryCollection")


def projjson(crs: str = CRS) -> dict:
    """PROJJSON of ``crs``, as GeoParquet's ``crs`` field holds it."""
    import pyproj

    doc = pyproj.CRS.from_user_input(crs).to_json_dict()
    _drop_ensemble_member_ids(doc)
    return doc


def _drop_ensemble_member_ids(doc: dict) -> None:
    # PROJ < 9.1 (GDAL 3.5/3.6 era builds) rejects the ids of datum ensemble members added to newer PROJ
    # databases; GDAL's own GeoParquet writer drops them too (OSGeo/gdal#5872), as does geopandas.
    for key, value in doc.items():
        if isinstance(value, dict):
            _drop_ensemble_member_ids(value)
        elif key == "members" and isinstance(value, list):
            for member in value:
                member.pop("id", None)


def geometry_types(wkb: pa.Array | pa.ChunkedArray) -> list[str]:
    """The GeoParquet ``geometry_types`` of a WKB column: sorted names, `` Z`` for 3D (empty for no geometry)."""
    return _types(_geometries(wkb))


def _geometries(wkb: pa.Array | pa.ChunkedArray):
    """The column's geometries, nulls left out."""
    import shapely

    geoms = shapely.from_wkb(wkb.to_numpy(zero_copy_only=False))
    return geoms[~shapely.is_missing(geoms)]


def _types(geoms) -> list[str]:
    import shapely

    ids, has_z = shapely.get_type_id(geoms), shapely.has_z(geoms)
    return sorted({_TYPE_NAMES[t] + (" Z" if z else "") for t, z in zip(ids.tolist(), has_z.tolist())})


def geo_metadata(table: pa.Table, *, geometry: str = "geometry", crs: str = CRS) -> dict:
    """The GeoParquet 1.1 ``geo`` metadata of ``table``'s WKB column ``geometry`` in ``crs``.

    Raises
    ------
    ValueError
        When ``geometry`` is missing or is not a binary (WKB) column.
    """
    import shapely

    if geometry not in table.column_names:
        raise ValueError(f"GeoParquet export: no geometry column {geometry!r}; columns: {', '.join(table.column_names)}")
    kind = table.schema.field(geometry).type
    if not (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
        raise ValueError(f"GeoParquet export: column {geometry!r} must hold WKB (binary), found {kind}")
    geoms = _geometries(table[geometry])
    meta: dict = {"encoding": "WKB", "geometry_types": _types(geoms), "crs": projjson(crs)}
    geoms = geoms[~shapely.is_empty(geoms)]
    if len(geoms):  # left out when there is no geometry to bound
        meta["bbox"] = [float(b) for b in shapely.total_bounds(geoms)]
    return {"version": GEOPARQUET_VERSION, "primary_column": geometry, "columns": {geometry: meta}}


def write_geoparquet(table: pa.Table, path: Path, *, geometry: str = "geometry", crs: str = CRS) -> int:
    """Write ``table`` (WKB ``geometry`` in ``crs``) as GeoParquet 1.1 at ``path``, atomically; return its rows.

    The file replaces ``path`` only once complete, so a GIS reading the folder never sees half a file.
    """
    import pyarrow.parquet as pq

    geo = geo_metadata(table, geometry=geometry, crs=crs)
    out = table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(out, tmp)
    tmp.replace(path)
    return table.num_rows


def read_geo_metadata(path: Path) -> dict:
    """The ``geo`` metadata of a GeoParquet file.

    Raises
    ------
    ValueError
        When the file has none (plain Parquet).
    """
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    if b"geo" not in meta:
        raise ValueError(f"{path}: not GeoParquet (no 'geo' key in its Parquet metadata)")
    return json.loads(meta[b"geo"])


def layer_geometry_type(types: Sequence[str], *, where: str = "layer") -> tuple[str, bool]:
    """The one geometry type a GIS layer declares for ``types`` (GeoParquet names) and whether to promote to multi.

    ``["Polygon", "MultiPolygon"]`` gives ``("MultiPolygon", True)``: single parts become one-part multis.

    Raises
    ------
    ValueError
        When the types cannot share a layer (points with polygons...) or there is no geometry to tell.
    """
    flat = {t.removesuffix(" Z") for t in types}
    z = " Z" if any(t.endswith(" Z") for t in types) else ""
    if not flat:
        raise ValueError(f"{where}: no geometry, so no geometry type to declare")
    if len(flat) == 1:
        return next(iter(flat)) + z, False
    bases = {t.removeprefix("Multi") for t in flat}
    if len(bases) == 1 and next(iter(bases)) in ("Point", "LineString", "Polygon"):
        return "Multi" + next(iter(bases)) + z, True
    raise ValueError(f"{where}: geometry types {sorted(types)} cannot share one layer; "
                     f"export each type to its own layer")


def write_geopackage(table: pa.Table, path: Path, layer: str, *, geometry: str = "geometry", crs: str = CRS,
                     append: bool = False) -> int:
    """Write ``table`` (WKB ``geometry`` in ``crs``) as layer ``layer`` of the GeoPackage ``path``; return its rows.

    The layer's geometry type is the table's (:func:`layer_geometry_type`), never ``GEOMETRY``;
    list and struct columns, which GeoPackage has no type for, are written as JSON text.
    """
    import pyarrow.compute as pc
    import pyogrio
    import shapely

    kind, promote = layer_geometry_type(geometry_types(table[geometry]), where=f"{path}, layer {layer}")
    column = table[geometry].combine_chunks() if isinstance(table[geometry], pa.ChunkedArray) else table[geometry]
    if promote:
        geoms = shapely.from_wkb(column.to_numpy(zero_copy_only=False))
        single = ~shapely.is_missing(geoms) & (shapely.get_type_id(geoms) < 4)
        multi = {"MultiPoint": shapely.multipoints, "MultiLineString": shapely.multilinestrings,
                 "MultiPolygon": shapely.multipolygons}[kind.removesuffix(" Z")]
        geoms[single] = [multi([g]) for g in geoms[single]]
        column = pa.array(shapely.to_wkb(geoms), pa.binary())
    columns, names = [], []
    for name in table.column_names:
        col = column if name == geometry else table[name]
        if pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or pa.types.is_struct(col.type):
            col = pa.array([None if v is None else json.dumps(v, default=str) for v in col.to_pylist()], pa.string())
        elif pa.types.is_dictionary(col.type):
            col = pc.cast(col, col.type.value_type)
        columns.append(col)
        names.append(name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pyogrio.write_arrow(pa.table(columns, names=names), path, layer=layer, driver="GPKG", geometry_name=geometry,
                        geometry_type=kind, crs=crs, append=append)
    return table.num_rows


def geoparquet_to_geopackage(sources: Iterable[Path], path: Path, layer: str) -> int:
    """Copy GeoParquet files (one layer's days, say) into layer ``layer`` of the GeoPackage ``path``; return rows.

    For a GDAL without the Parquet driver. The files must share their columns and CRS; the
    layer's geometry type is that of all their rows (:func:`write_geopackage`).

    Raises
    ------
    ValueError
        When there is no file, a file is not GeoParquet, or the files' CRSs differ.
    """
    import pyarrow.parquet as pq
    import pyproj

    files = [Path(p) for p in sources]
    if not files:
        raise ValueError(f"{path}: no GeoParquet file to copy into layer {layer!r}")
    tables, crss, column = [], set(), None
    for f in files:
        geo = read_geo_metadata(f)
        column = geo["primary_column"]
        crs = geo["columns"][column].get("crs")
        # no crs in GeoParquet means OGC:CRS84: the same lon/lat axes as EPSG:4326's GIS order
        crss.add(pyproj.CRS.from_json_dict(crs).to_string() if crs else "OGC:CRS84")
        tables.append(pq.read_table(f))
    if len(crss) > 1:
        raise ValueError(f"{path}: the files' CRSs differ ({', '.join(sorted(crss))}); one layer has one CRS")
    table = pa.concat_tables(tables, promote_options="default")
    return write_geopackage(table, path, layer, geometry=column, crs=crss.pop())
