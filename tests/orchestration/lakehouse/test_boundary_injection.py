"""A spec's layer name is a value in the boundary layer's predicate, never SQL of its own.

Before: ``f"layer = '{layer}'"`` let a spec whose ``layer_name`` was
``x' OR '1'='1`` replace every other city's boundary layer (100 rows became 23).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pyarrow.compute as pc

from orchestration.lakehouse.assets import police_districts
from orchestration.resources.lakehouse import LocalLakehouse
from orchestration.resources.sources import SourceCatalog

ROOT = Path(__file__).resolve().parents[3]
HOSTILE = "x' OR '1'='1"


def spec(folder: Path, name: str, layer: str | None) -> Path:
    shutil.copy(ROOT / "data" / "chicago" / "police_districts.kml", folder / "districts.kml")
    text = f"""
name: {name}
table: incidents
format: {{kind: csv}}
fields:
  occurred_at: {{column: date, format: "%Y-%m-%d %H:%M"}}
  category: {{constant: aggravated_assault}}
coordinates: {{x: longitude, y: latitude, crs: "EPSG:4326"}}
study_area: {{boundary: districts.kml, id_field: Name{f', layer_name: "{layer}"' if layer else ''}}}
"""
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def test_a_hostile_layer_name_replaces_only_its_own_layer(tmp_path):
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    first = spec(tmp_path, "honest_city", "honest")
    dg.materialize([police_districts], resources={"lakehouse": lake, "sources": SourceCatalog(spec_paths=[str(first)])})
    honest = lake.count("reference", "police_districts")
    assert honest > 0

    hostile = spec(tmp_path, "hostile_city", HOSTILE)
    dg.materialize([police_districts], resources={"lakehouse": lake,
                                                  "sources": SourceCatalog(spec_paths=[str(hostile)])})
    layers = lake.read("reference", "police_districts", columns=["layer"])["layer"]
    assert pc.sum(pc.equal(layers, "honest")).as_py() == honest       # untouched
    assert pc.sum(pc.equal(layers, HOSTILE)).as_py() == honest        # its own rows, under its literal name
    history = lake.table("reference", "police_districts").history(1)[0]
    assert "x'' OR ''1''=''1" in str(history.get("operationParameters", {}).get("predicate"))


def test_unchanged_boundaries_are_not_rewritten(tmp_path):
    """The same polygons again: no commit, so the gold tables that follow the districts rebuild nothing."""
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    sources = SourceCatalog(spec_paths=[str(spec(tmp_path, "honest_city", "honest"))])
    dg.materialize([police_districts], resources={"lakehouse": lake, "sources": sources})
    version = lake.version("reference", "police_districts")
    dg.materialize([police_districts], resources={"lakehouse": lake, "sources": sources})
    assert lake.version("reference", "police_districts") == version
