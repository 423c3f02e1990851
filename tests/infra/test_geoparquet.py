"""The GeoParquet exports open in a GIS reader other than the one that wrote them.

Verified here: DuckDB's spatial extension (``read_parquet`` turns the GeoParquet
geometry column into ``GEOMETRY`` with the CRS of the ``geo`` metadata).
GDAL's Parquet driver (what QGIS uses) is not in this venv's pyogrio build and
``ogrinfo`` is not installed, so that test runs only where a GDAL build with the
Parquet driver is present (docs/operations.md, "GIS"); the ``geo`` metadata itself
is checked against the GeoParquet 1.1 rules in ``tests/orchestration/platform/test_gis.py``.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import shapely

from orchestration.platform import bi

POINTS = [(-73.95, 40.71), (-73.99, 40.75), (-74.01, 40.70)]


@pytest.fixture(scope="module")
def spatial():
    try:
        return bi.connect(extensions=("spatial",))
    except (bi.ExtensionUnavailable, ImportError) as exc:
        pytest.skip(f"DuckDB spatial cannot be loaded here: {exc}")


@pytest.fixture
def events_layer(tmp_path):
    """An events-like gold table written by the fusion_map_layers export."""
    from orchestration.fusion.exports import write_geoparquet

    table = pa.table({
        "event_id": ["e1", "e2", "e3"],
        "origin": ["incidents", "cdr_events", "transactions"],
        "occurred_at": pa.array([dt.datetime(2024, 5, 1, h, tzinfo=dt.timezone.utc) for h in (1, 2, 3)],
                                pa.timestamp("us", tz="UTC")),
        "entity_ids": [["phone:a"], [], ["account:b", "phone:a"]],
        "geometry": pa.array(shapely.to_wkb(shapely.points(POINTS)).tolist(), pa.binary()),
    })
    path = tmp_path / "events.parquet"
    assert write_geoparquet(table, path) == 3
    return path


@pytest.fixture
def forecast_layer(tmp_path):
    """H3 cells as polygons, written by the hotspot forecast export."""
    import h3

    from orchestration.hotspots.maps import write_geoparquet

    cells = [h3.latlng_to_cell(lat, lon, 9) for lon, lat in POINTS]
    return write_geoparquet(pa.table({"h3": cells, "risk": [0.9, 0.5, 0.1]}), tmp_path / "forecast.parquet"), cells


def test_duckdb_spatial_reads_the_points_with_their_crs(spatial, events_layer):
    types = dict(spatial.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
                                 f"read_parquet('{events_layer}'))").fetchall())
    assert types["geometry"] == "GEOMETRY('EPSG:4326')"
    rows = spatial.execute(f"SELECT event_id, ST_X(geometry), ST_Y(geometry), entity_ids FROM "
                           f"read_parquet('{events_layer}') ORDER BY event_id").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [(f"e{i + 1}", x, y) for i, (x, y) in enumerate(POINTS)]
    assert rows[2][3] == ["account:b", "phone:a"]


def test_duckdb_spatial_reads_the_forecast_cells_as_polygons(spatial, forecast_layer):
    path, cells = forecast_layer
    rows = spatial.execute(f"SELECT h3, ST_GeometryType(geometry)::VARCHAR, "
                           f"ST_Contains(geometry, ST_Centroid(geometry)) FROM read_parquet('{path}')").fetchall()
    assert sorted(r[0] for r in rows) == sorted(cells)
    assert all(kind == "POLYGON" and inside for _, kind, inside in rows)
    # each point lies in the cell it was indexed to, in lon/lat order (no axis swap)
    for (lon, lat), cell in zip(POINTS, cells):
        (hit,) = spatial.execute(f"SELECT ST_Contains(geometry, ST_Point({lon}, {lat})) FROM read_parquet('{path}') "
                                 f"WHERE h3 = '{cell}'").fetchone()
        assert hit, cell


@pytest.mark.parametrize("layer, geometry_type", [("events_layer", "Point"), ("forecast_layer", "Polygon")])
def test_gdal_opens_the_geoparquet_where_its_build_has_the_parquet_driver(request, layer, geometry_type):
    pyogrio = pytest.importorskip("pyogrio")
    if "Parquet" not in pyogrio.list_drivers():
        pytest.skip(f"pyogrio's GDAL {pyogrio.__gdal_version_string__} has no Parquet driver "
                    f"(GDAL >= 3.9 built with Arrow has: docs/operations.md, 'GIS')")
    path = request.getfixturevalue(layer)
    path = path[0] if isinstance(path, tuple) else path
    info = pyogrio.read_info(path)
    assert (info["driver"], info["features"], info["geometry_type"]) == ("Parquet", 3, geometry_type)
    assert info["crs"] == "EPSG:4326"


def test_geopackage_converted_by_duckdb_opens_in_gdal(spatial, events_layer, tmp_path):
    """The DuckDB fallback of docs/operations.md for a GDAL without the Parquet driver: a GeoPackage layer
    typed POINT (without ``GEOMETRY_TYPE`` DuckDB declares ``GEOMETRY``), read by GDAL here."""
    pyogrio = pytest.importorskip("pyogrio")
    out = tmp_path / "events.gpkg"
    spatial.execute(f"COPY (SELECT * FROM read_parquet('{events_layer}')) TO '{out}' "
                    f"WITH (FORMAT gdal, DRIVER 'GPKG', SRS 'EPSG:4326', GEOMETRY_TYPE 'POINT')")
    info = pyogrio.read_info(out)
    assert (info["driver"], info["crs"], info["features"], info["geometry_type"]) == ("GPKG", "EPSG:4326", 3, "Point")
    points = pyogrio.read_dataframe(out).sort_values("event_id")
    assert [(g.x, g.y) for g in points.geometry] == POINTS
