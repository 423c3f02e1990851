"""GIS exports: GeoParquet 1.1 ``geo`` metadata as the specification words it, GeoPackage layers with their type.

Each case is a layer as an export writes it (points of ``gold/events``, H3 cells of the
forecast, district polygons that mix one- and multi-part shapes...); every writer
goes through :mod:`orchestration.platform.gis`. The files are read back by
geopandas (which validates the ``geo`` metadata), by GDAL through pyogrio for the
GeoPackage, and by GDAL's Parquet driver where the installed GDAL has it
(``tests/infra/test_geoparquet.py``, docs/operations.md "GIS").
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pyproj
import pytest
import shapely

from orchestration.platform import gis

POINTS = [shapely.Point(-73.95, 40.71), shapely.Point(-73.99, 40.75), shapely.Point(-74.01, 40.70)]
SQUARE = shapely.box(-87.70, 41.80, -87.60, 41.90)
TWO_SQUARES = shapely.MultiPolygon([shapely.box(-87.50, 41.70, -87.45, 41.75), shapely.box(-87.40, 41.70, -87.35, 41.75)])

# name, geometries, expected geometry_types, expected GeoPackage type (gpkg_geometry_columns), z flag
CASES = [
    ("points", POINTS, ["Point"], "POINT", 0),
    ("polygons", [SQUARE, shapely.box(-87.6, 41.8, -87.5, 41.9)], ["Polygon"], "POLYGON", 0),
    ("districts_mixed", [SQUARE, TWO_SQUARES], ["MultiPolygon", "Polygon"], "MULTIPOLYGON", 0),
    ("tracks", [shapely.LineString([(0, 0), (1, 1)]), shapely.MultiLineString([[(2, 2), (3, 3)]])],
     ["LineString", "MultiLineString"], "MULTILINESTRING", 0),
    ("points_3d", [shapely.Point(1, 2, 3), shapely.Point(4, 5, 6)], ["Point Z"], "POINT", 1),
    ("points_with_a_null", [POINTS[0], None, POINTS[1]], ["Point"], "POINT", 0),
]


def _table(geoms) -> pa.Table:
    n = len(geoms)
    return pa.table({
        "id": [f"r{i}" for i in range(n)],
        "occurred_at": pa.array([dt.datetime(2024, 5, 1, i, tzinfo=dt.timezone.utc) for i in range(n)],
                                pa.timestamp("us", tz="UTC")),
        "entity_ids": [[f"phone:{i}"] if i % 2 else [] for i in range(n)],
        "geometry": pa.array([None if g is None else shapely.to_wkb(g) for g in geoms], pa.binary()),
    })


def _check_spec(geo: dict, schema: pa.Schema, geoms, types: list[str]) -> None:
    """The rules of GeoParquet 1.1.0 for the ``geo`` key (format-specs/geoparquet.md, "File metadata")."""
    assert geo["version"] == "1.1.0"
    assert geo["primary_column"] == "geometry" and set(geo["columns"]) == {"geometry"}
    col = geo["columns"]["geometry"]
    assert set(col) <= {"encoding", "geometry_types", "crs", "bbox", "edges", "orientation", "epoch", "covering"}
    assert col["encoding"] == "WKB"
    # a top-level BYTE_ARRAY column
    assert pa.types.is_binary(schema.field("geometry").type) or pa.types.is_large_binary(schema.field("geometry").type)
    assert col["geometry_types"] == types and len(set(types)) == len(types)
    assert all(re.fullmatch(r"(GeometryCollection|(Multi)?(Point|LineString|Polygon))( Z)?", t) for t in types)
    # crs: PROJJSON (an object), here EPSG:4326 whose axes the WKB's (lon, lat) order overrides
    assert isinstance(col["crs"], dict) and col["crs"]["type"] == "GeographicCRS"
    assert pyproj.CRS.from_json_dict(col["crs"]).equals(pyproj.CRS("EPSG:4326"))
    present = [g for g in geoms if g is not None]
    if present:
        assert col["bbox"] == pytest.approx(list(shapely.total_bounds(present)))
    else:
        assert "bbox" not in col


@pytest.mark.parametrize("name, geoms, types, _gpkg, _z", CASES, ids=[c[0] for c in CASES])
def test_geoparquet_metadata_follows_the_1_1_spec_and_reads_back(tmp_path, name, geoms, types, _gpkg, _z):
    import geopandas as gpd

    path = tmp_path / f"{name}.parquet"
    assert gis.write_geoparquet(_table(geoms), path) == len(geoms)
    schema = pq.read_schema(path)
    _check_spec(json.loads(schema.metadata[b"geo"]), schema, geoms, types)
    # the Arrow types of the table are kept (no pandas round trip)
    assert schema.field("entity_ids").type == pa.list_(pa.string())
    assert schema.field("occurred_at").type == pa.timestamp("us", tz="UTC")
    # geopandas validates the metadata on read
    back = gpd.read_parquet(path)
    assert back.crs.to_epsg() == 4326 and len(back) == len(geoms)
    for got, want in zip(back.geometry, geoms):
        assert (got is None and want is None) or shapely.equals_exact(got, want, 1e-12)
    assert not list(tmp_path.glob("*.tmp"))  # written aside, then moved into place


def test_an_empty_layer_has_no_types_and_no_bbox(tmp_path):
    import geopandas as gpd

    path = tmp_path / "empty.parquet"
    assert gis.write_geoparquet(_table([]), path) == 0
    schema = pq.read_schema(path)
    _check_spec(json.loads(schema.metadata[b"geo"]), schema, [], [])
    assert len(gpd.read_parquet(path)) == 0


@pytest.mark.parametrize("table, message", [
    (pa.table({"id": [1]}), "no geometry column 'geometry'"),
    (pa.table({"geometry": ["POINT (1 2)"]}), "must hold WKB"),
])
def test_a_table_without_wkb_is_refused_with_its_column(tmp_path, table, message):
    with pytest.raises(ValueError, match=message):
        gis.write_geoparquet(table, tmp_path / "x.parquet")


def test_every_export_writes_geoparquet_1_1(tmp_path):
    """The three writers: hotspot forecast cells, fusion map layers, Gi* cells (through the same helper)."""
    import h3

    from orchestration.fusion import exports
    from orchestration.hotspots.maps import write_geoparquet as write_forecast

    cells = [h3.latlng_to_cell(p.y, p.x, 9) for p in POINTS]
    forecast = write_forecast(pa.table({"h3": cells, "risk": [0.9, 0.5, 0.1]}), tmp_path / "forecast.parquet")
    assert exports.write_geoparquet(_table(POINTS), tmp_path / "events.parquet") == 3
    for path, types in ((forecast, ["Polygon"]), (tmp_path / "events.parquet", ["Point"])):
        geo = gis.read_geo_metadata(path)
        assert (geo["version"], geo["columns"]["geometry"]["geometry_types"]) == ("1.1.0", types), path


@pytest.mark.parametrize("name, geoms, _types, gpkg, z", CASES, ids=[c[0] for c in CASES])
def test_geopackage_layers_declare_their_geometry_type(tmp_path, name, geoms, _types, gpkg, z):
    pyogrio = pytest.importorskip("pyogrio")
    path = tmp_path / "layers.gpkg"
    assert gis.write_geopackage(_table(geoms), path, name) == len(geoms)
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT geometry_type_name, srs_id, z FROM gpkg_geometry_columns WHERE table_name = ?",
                         (name,)).fetchone()
    assert row == (gpkg, 4326, z)
    info = pyogrio.read_info(path, layer=name)
    assert info["crs"] == "EPSG:4326" and info["features"] == len(geoms)
    assert info["geometry_type"] not in ("Unknown", "Geometry")
    back = pyogrio.read_dataframe(path, layer=name)
    assert [json.loads(v) for v in back["entity_ids"]] == [[f"phone:{i}"] if i % 2 else [] for i in range(len(geoms))]
    for got, want in zip(back.geometry, geoms):
        # one-part multis where the layer mixes single and multi parts: the same shape
        assert (got is None and want is None) or got.equals(want)


def test_geoparquet_days_become_one_geopackage_layer(tmp_path):
    """The fallback for a GDAL without the Parquet driver: a layer's day files into one GeoPackage layer."""
    pyogrio = pytest.importorskip("pyogrio")
    days = []
    for k, geoms in enumerate((POINTS[:2], POINTS[2:])):
        days.append(tmp_path / f"2024-05-0{k + 1}.parquet")
        gis.write_geoparquet(_table(geoms), days[-1])
    out = tmp_path / "events.gpkg"
    assert gis.geoparquet_to_geopackage(days, out, "events") == 3
    info = pyogrio.read_info(out, layer="events")
    assert (info["geometry_type"], info["crs"], info["features"]) == ("Point", "EPSG:4326", 3)


@pytest.mark.parametrize("geoms, message", [
    ([POINTS[0], SQUARE], r"geometry types \['Point', 'Polygon'\] cannot share one layer"),
    ([None], "no geometry, so no geometry type"),
])
def test_a_layer_that_cannot_have_one_type_is_refused(tmp_path, geoms, message):
    with pytest.raises(ValueError, match=message):
        gis.write_geopackage(_table(geoms), tmp_path / "x.gpkg", "x")
    with pytest.raises(ValueError, match="not GeoParquet"):
        pq.write_table(pa.table({"a": [1]}), tmp_path / "plain.parquet")
        gis.geoparquet_to_geopackage([tmp_path / "plain.parquet"], tmp_path / "y.gpkg", "y")
