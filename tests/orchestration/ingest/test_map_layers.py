"""A spec's map_layers: vector files drawn on the maps' base, reprojected and labelled, or a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely

from jobs.ingest.spec import SpecError, load_spec
from orchestration.ingest.boundaries import read_map_layers

SPEC = """name: city
table: incidents
fields:
  occurred_at: {column: date, format: iso8601}
  category: {constant: robbery}
coordinates: {x: lon, y: lat}
"""


def geojson(path: Path, features: list[tuple[object, dict]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": shapely.geometry.mapping(g), "properties": props} for g, props in features]}))
    return path


def spec(folder: Path, layers: str) -> Path:
    p = folder / "city.yaml"
    p.write_text(SPEC + layers)
    return p


def test_layers_are_read_labelled_and_reprojected(tmp_path):
    import geopandas as gpd

    geojson(tmp_path / "streets.geojson", [(shapely.LineString([(-87.63, 41.88), (-87.62, 41.89)]), {"name": "State"}),
                                           (shapely.LineString([(-87.64, 41.87), (-87.63, 41.87)]), {"name": None})])
    gpd.GeoDataFrame({"label": ["Station"]}, geometry=[shapely.Point(447000, 4637000)], crs="EPSG:26916").to_file(
        tmp_path / "places.gpkg", layer="landmarks", driver="GPKG")
    s = load_spec(spec(tmp_path, "map_layers:\n  - {name: streets, file: streets.geojson, label_field: name}\n"
                                 "  - {name: landmarks, file: places.gpkg, layer: landmarks, label_field: label, "
                                 "colour: '#aa3300', weight: 2}\n"))
    streets, places = read_map_layers(s)
    assert (streets.name, list(streets.labels), len(streets.geometry)) == ("streets", ["State", None], 2)
    assert shapely.from_wkb(streets.geometry[0]).equals_exact(
        shapely.LineString([(-87.63, 41.88), (-87.62, 41.89)]), 1e-9)
    pt = shapely.from_wkb(places.geometry[0])  # UTM 16N metres -> lon/lat near Chicago
    assert -88 < pt.x < -87 and 41.5 < pt.y < 42.2 and places.labels == ["Station"]
    assert (places.colour, places.weight) == ("#aa3300", 2.0)
    assert read_map_layers(load_spec(spec(tmp_path, ""))) == []


@pytest.mark.parametrize("layers, match", [
    ("map_layers:\n  - {name: streets, file: missing.geojson}\n", "map layer 'streets': file not found"),
    ("map_layers:\n  - {name: streets, file: notvector.geojson}\n", "not a readable vector layer"),
    ("map_layers:\n  - {name: streets, file: streets.geojson, label_field: nom}\n", "no field 'nom'"),
    ("map_layers:\n  - {name: streets, file: /etc/hostname}\n", "outside the spec's folder"),
])
def test_bad_layers_name_the_spec_layer_and_file(tmp_path, layers, match):
    geojson(tmp_path / "streets.geojson", [(shapely.LineString([(0, 0), (1, 1)]), {"name": "a"})])
    (tmp_path / "notvector.geojson").write_text("not json at all")
    with pytest.raises(SpecError, match=match):
        read_map_layers(load_spec(spec(tmp_path, layers)))


@pytest.mark.parametrize("layer, match", [
    ("{name: x, file: a.gpkg, colour: red}", "colour"),
    ("{name: x, file: a.gpkg, weight: 0}", "weight"),
    ("{file: a.gpkg}", "name"),
])
def test_layer_keys_are_checked_when_the_spec_loads(tmp_path, layer, match):
    with pytest.raises(SpecError, match=match):
        load_spec(spec(tmp_path, f"map_layers:\n  - {layer}\n"))
