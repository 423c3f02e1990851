"""Which incident feed the hotspot assets forecast: the configured one, else the first with a study area;
configuration errors are not retried."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from orchestration.hotspots.inputs import forecast_source
from orchestration.resources.sources import SourceCatalog

ROOT = Path(__file__).resolve().parents[3]


def spec(folder: Path, name: str, area: bool) -> str:
    shutil.copy(ROOT / "data" / "chicago" / "police_districts.kml", folder / "districts.kml")
    path = folder / f"{name}.yaml"
    path.write_text(f"""name: {name}
table: incidents
fields:
  occurred_at: {{column: date, format: iso8601}}
  category: {{constant: robbery}}
coordinates: {{x: lon, y: lat}}
""" + ("study_area: {boundary: districts.kml, id_field: Name}\n" if area else ""))
    return str(path)


def test_the_configured_feed_or_the_first_with_a_study_area(tmp_path):
    catalog = SourceCatalog(spec_paths=[spec(tmp_path, "no_area", False), spec(tmp_path, "city_b", True),
                                        spec(tmp_path, "city_c", True)])
    assert forecast_source(catalog).name == "city_b"
    assert forecast_source(catalog, "city_c").name == "city_c"


@pytest.mark.parametrize("name, paths, match", [
    ("atlantis", ["city_b"], "'atlantis' is not an incident spec of this deployment; known: city_b"),
    ("no_area", ["no_area"], "'no_area' has no study_area"),
    ("", ["no_area"], "no incident spec declares a study_area"),
])
def test_configuration_errors_fail_without_retries(tmp_path, name, paths, match):
    catalog = SourceCatalog(spec_paths=[spec(tmp_path, p, p != "no_area") for p in paths])
    with pytest.raises(dg.Failure, match=match) as err:
        forecast_source(catalog, name)
    assert err.value.allow_retries is False
