"""The forecast and patrol pages on a tiny study area: self-contained, stating values, units, local dates."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from jobs.maps.layers import TileLayer, VectorLayer, areas_from
from jobs.maps.leaflet import LEAFLET_VERSION
from jobs.maps.pages import forecast_page, patrol_page
from tests.jobs.maps import tiny


def _data(page: str) -> dict:
    m = re.search(r"<script type='application/json' id='cf-map-data'>(.*?)</script>", page, re.S)
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def forecast():
    return tiny.forecast()


def test_page_is_one_file_that_needs_no_network(forecast):
    page = forecast_page(forecast, tiny.districts(), week=tiny.WEEK, timezone=tiny.TZ)
    assert f'version="{LEAFLET_VERSION}"' in page  # Leaflet inline
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page, re.I)  # nothing loaded from elsewhere
    assert "sourceMappingURL" not in page and "url(images/" not in page
    assert "cdn" not in page.lower().replace("cdnjs", "")


def test_leaflet_and_its_licence_ship_in_the_package():
    static = resources.files("jobs.maps").joinpath("static", "leaflet")
    assert "BSD 2-Clause License" in static.joinpath("LICENSE").read_text()
    assert static.joinpath("leaflet.js").is_file() and static.joinpath("leaflet.css").is_file()


def test_forecast_page_title_legend_and_cells(forecast):
    page = forecast_page(forecast, tiny.districts(), week=tiny.WEEK, timezone=tiny.TZ,
                         serving="Forecast by learned, v3; won the gate: PAI@1% 12.3")
    assert "<h1>Expected incidents, week of Mon 1 Jan 2018 – Sun 7 Jan 2018 (America/Chicago)</h1>" in page
    assert "Forecast by learned, v3; won the gate: PAI@1% 12.3" in page
    assert "Sun 31 Dec 18:00 to Sun 7 Jan 18:00 local time" in page  # the UTC week, read locally
    data = _data(page)
    legend = data["legend_html"]
    assert "Expected incidents per cell per week" in legend and "H3 resolution 9" in legend
    assert re.search(r"\d\.\d+ or more", legend) and re.search(r"under \d\.\d+", legend)
    assert "0</span>" in legend and "not shaded" in legend  # the cells expecting nothing
    assert data["tiles"] is None
    labels = [f["properties"]["label"] for f in data["areas"]]
    assert labels == ["1", "2 Near South"]
    cells = data["cells"]
    assert len(cells["ids"]) == forecast.num_rows == len(cells["rings"]) == len(cells["rank"])
    assert cells["ids"][0] == forecast.column("h3")[0].as_py() and cells["rank"][0] == 1
    assert all(len(r) == 12 for r in cells["rings"])  # hexagons: six (lat, lon) pairs
    assert cells["drivers"][0].startswith("roll_52 ×")
    assert "<table class='cf-table cf-top-table'>" in page and "Drivers" in page


def test_forecast_page_without_drivers_or_labels(forecast):
    page = forecast_page(forecast.drop_columns(["drivers"]), list(tiny.districts().column("geometry").to_pylist()),
                         week=tiny.WEEK)
    data = _data(page)
    assert data["cells"]["drivers"] is None and "cf-drivers'>Drivers" not in page
    assert all(f["properties"]["label"] == "" for f in data["areas"])
    assert "(UTC)</h1>" in page and "local time" not in page  # no UTC-week note in UTC


def test_tiles_and_extra_layers(forecast):
    import shapely
    from shapely.geometry import LineString

    street = VectorLayer("streets", [shapely.to_wkb(LineString([(-87.69, 41.86), (-87.63, 41.86)]))], ["Cermak Rd"])
    page = forecast_page(forecast, tiny.districts(), week=tiny.WEEK, timezone=tiny.TZ,
                         tiles=TileLayer("https://tiles.agency.gov/{z}/{x}/{y}.png"), layers=[street])
    data = _data(page)
    assert data["tiles"]["url"] == "https://tiles.agency.gov/{z}/{x}/{y}.png"
    assert data["tiles"]["attribution"] == "Base map: tiles.agency.gov"
    assert data["layers"][0]["features"][0]["properties"]["label"] == "Cermak Rd"
    with pytest.raises(ValueError, match="lacks"):
        TileLayer("https://tiles.agency.gov/tile.png")


def test_patrol_page_names_shifts_by_local_date_and_tables_them():
    h3, expected, plan = tiny.plan()
    page = patrol_page(h3, expected, plan, tiny.districts(), week=tiny.WEEK, timezone=tiny.TZ)
    assert "<h1>Patrol plan, week of Mon 1 Jan 2018 – Sun 7 Jan 2018 (America/Chicago)</h1>" in page
    shifts = _data(page)["patrol"]["shifts"]
    assert len(shifts) == 21
    assert shifts[0]["label"] == "Mon 1 Jan 06:00–14:00" and shifts[-1]["label"] == "Sun 7 Jan 22:00–06:00"
    assert [r[1] for r in shifts[0]["cells"]] == list(range(1, tiny.CAPACITY + 1))
    assert page.count("<table class='cf-table cf-shift-table'") == 21
    assert page.count("<caption>") == 21 and "<caption>Mon 1 Jan 06:00–14:00</caption>" in page
    first_row = shifts[0]["cells"][0]
    assert f"<td>1</td><td>{first_row[0]}</td><td>{first_row[2]:.2f}</td>" in page
    assert "<option value='0'>Mon 1 Jan 06:00–14:00</option>" in page
    assert "Sun 31 Dec" not in page.split("The forecast counts")[0]  # no shift or title on the day before


def test_bad_inputs_name_what_is_missing(forecast):
    with pytest.raises(ValueError, match="expected_count"):
        forecast_page(forecast.drop_columns(["expected_count"]), tiny.districts(), week=tiny.WEEK)
    with pytest.raises(ValueError, match="area_id"):
        areas_from(tiny.districts().drop_columns(["area_id"]))
