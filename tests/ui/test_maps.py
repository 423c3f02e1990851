"""The forecast and patrol maps in a real browser (Debian's Chromium through Playwright), from ``file://``.

What a person briefing from them must see: the base layer drawn (area boundaries with their labels,
or the agency's tiles), the legend's values and unit, a scale bar, the title's local dates, a
tooltip with the cell's id, expected count and rank on hover, the patrol cells of the chosen shift
outlined and tabled; and nothing else: no console error, no request leaving ``file://``.
Screenshots go to ``test-artifacts/ui/`` (``forecast-map.png``, ``patrol-map.png``,
``patrol-map-narrow.png``, ``forecast-map-tiles.png``).
"""

from __future__ import annotations

import io
import re

from jobs.maps.cells import colour_classes
from orchestration.hotspots.maps import write_forecast_maps, write_patrol_maps
from tests.jobs.maps import tiny
from tests.ui.test_asset_graph import ARTIFACTS

KEY = tiny.WEEK.date().isoformat()
WEEK_TEXT = "week of Mon 1 Jan 2018 – Sun 7 Jan 2018 (America/Chicago)"
TILE_HOST = "tiles.agency.test"


class Watched:
    """A page with its console errors, uncaught exceptions and requests recorded."""

    def __init__(self, browser, width: int = 1400, height: int = 1000):
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, path):
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready='1']")
        return self.page

    def outside(self, allowed=("file://", "data:")) -> list[str]:
        return [u for u in self.requests if not u.startswith(allowed)]


def _tooltip_of(page, cell: str) -> str:
    page.locator(f"path.cf-cell[data-h3='{cell}']").hover()
    tip = page.locator(".leaflet-tooltip")
    tip.wait_for(state="visible")
    return tip.inner_text()


def _assert_base_drawn(page, labels: list[str], filled: bool = True) -> None:
    areas = page.locator("path.cf-area")
    assert areas.count() == len(labels), "one boundary path per area"
    for k in range(areas.count()):
        box = areas.nth(k).bounding_box()
        assert box and box["width"] > 50 and box["height"] > 50, f"area {k} not drawn: {box}"
        assert (areas.nth(k).get_attribute("fill") != "none") == filled
    assert page.locator("path.cf-area-outline").count() == len(labels)  # outlines above the cells
    shown = page.locator(".cf-area-label").all_inner_texts()
    assert sorted(shown) == sorted(labels)
    map_box = page.locator("#cf-map").bounding_box()
    for k in range(len(labels)):
        box = page.locator(".cf-area-label span").nth(k).bounding_box()
        assert map_box["x"] < box["x"] < map_box["x"] + map_box["width"]
        assert map_box["y"] < box["y"] < map_box["y"] + map_box["height"]


def test_forecast_map(browser, tmp_path):
    table = tiny.forecast()
    paths = write_forecast_maps(table, tiny.districts(), tmp_path, KEY, timezone=tiny.TZ,
                                serving="Forecast by learned, v3; won the gate: PAI@1% 12.3")
    w = Watched(browser)
    page = w.open(paths["map_html"])

    assert page.locator("h1").inner_text() == f"Expected incidents, {WEEK_TEXT}"
    assert "Forecast by learned, v3; won the gate" in page.locator(".cf-serving").inner_text()
    _assert_base_drawn(page, ["1", "2 Near South"])

    # legend: the unit and each class's values, as the classes computed them
    legend = page.locator(".cf-legend")
    assert legend.is_visible()
    assert "Expected incidents per cell per week" in legend.inner_text()
    values = legend.locator(".cf-legend-value").all_inner_texts()
    classes = colour_classes(table.column("expected_count").to_numpy())
    assert values[:len(classes.legend_rows())] == [label for _, label, _ in classes.legend_rows()]
    assert all(re.search(r"\d", v) for v in values[:-1]), values
    assert re.search(r"\d+\.\d+ or more", values[0])

    scale = page.locator(".leaflet-control-scale-line").first
    assert scale.is_visible() and re.fullmatch(r"\d+ (m|km)", scale.inner_text())
    assert page.locator("path.cf-top").count() == int(table.column("in_top_cells").to_numpy(zero_copy_only=False).sum())

    top = table.column("h3")[0].as_py()  # rank 1
    text = _tooltip_of(page, top)
    assert f"Cell {top}" in text
    assert f"Expected: {table.column('expected_count')[0].as_py():.2f}" in text
    assert f"Rank 1 of {table.num_rows}" in text
    assert "Drivers: roll_52 ×" in text
    page.screenshot(path=str(ARTIFACTS / "forecast-map.png"), full_page=True)

    assert page.locator("table.cf-top-table tbody tr").count() == int(
        table.column("in_top_cells").to_numpy(zero_copy_only=False).sum())
    assert not w.errors, w.errors
    assert not w.outside(), f"requests outside file://: {w.outside()}"


def test_patrol_map(browser, tmp_path):
    h3, expected, plan = tiny.plan()
    paths = write_patrol_maps(h3, expected, tiny.districts(), plan, tmp_path, KEY, timezone=tiny.TZ)
    w = Watched(browser, width=1600)
    page = w.open(paths["map_html"])

    assert page.locator("h1").inner_text() == f"Patrol plan, {WEEK_TEXT}"
    _assert_base_drawn(page, ["1", "2 Near South"])
    assert page.locator("#cf-map").bounding_box()["width"] >= 1580, "the map spans the window (no fixed width)"
    assert "Expected incidents per cell per week" in page.locator(".cf-legend").inner_text()

    tables = page.locator("table.cf-shift-table")
    assert tables.count() == 21
    captions = page.locator("table.cf-shift-table caption").all_inner_texts()
    assert captions[0] == "Mon 1 Jan 06:00–14:00" and captions[-1] == "Sun 7 Jan 22:00–06:00"
    assert not any(c.startswith("Sun 31 Dec") for c in captions)

    page.select_option("#cf-shift", label="Tue 2 Jan 06:00–14:00")
    assert page.locator("path.cf-patrol").count() == tiny.CAPACITY
    assert page.locator(".cf-rank").all_inner_texts() == [str(k) for k in range(1, tiny.CAPACITY + 1)]
    chosen = page.locator("table.cf-shift-table.cf-selected")
    assert chosen.count() == 1 and chosen.locator("caption").inner_text() == "Tue 2 Jan 06:00–14:00"
    first = chosen.locator("tbody tr").first.locator("td").all_inner_texts()
    assert first[0] == "1" and re.fullmatch(r"\d+\.\d\d", first[2])
    assert chosen.locator("tbody tr").count() == tiny.CAPACITY

    text = _tooltip_of(page, first[1])
    assert f"Cell {first[1]}" in text and "Patrol Tue 2 Jan 06:00–14:00: #1" in text
    page.screenshot(path=str(ARTIFACTS / "patrol-map.png"), full_page=True)

    page.set_viewport_size({"width": 760, "height": 1000})  # a narrow window: the map follows it
    page.wait_for_timeout(200)
    assert page.locator("#cf-map").bounding_box()["width"] <= 760
    page.screenshot(path=str(ARTIFACTS / "patrol-map-narrow.png"))
    assert not w.errors, w.errors
    assert not w.outside(), f"requests outside file://: {w.outside()}"


def _png_tile() -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.56, 2.56), dpi=100)
    fig.patch.set_facecolor("#cfe3c4")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_tile_server_base(browser, tmp_path):
    from orchestration.resources.factory import build_resources
    from orchestration.settings import load_settings

    # CRIMEFUSION_TILES reaches the maps through the settings and the reports resource, as in a run
    reports = build_resources(load_settings({"CRIMEFUSION_HOME": str(tmp_path / "home"),
                                             "CRIMEFUSION_TILES": f"https://{TILE_HOST}/{{z}}/{{x}}/{{y}}.png"}))["reports"]
    paths = write_forecast_maps(tiny.forecast(), tiny.districts(), tmp_path, KEY, timezone=tiny.TZ, tiles=reports.tiles)
    w = Watched(browser)
    tile = _png_tile()
    w.page.route(f"https://{TILE_HOST}/**", lambda route: route.fulfill(status=200, content_type="image/png", body=tile))
    page = w.open(paths["map_html"])
    page.wait_for_selector("img.leaflet-tile-loaded")
    tiles = page.locator("img.leaflet-tile-loaded")
    assert tiles.count() >= 1
    assert all(re.fullmatch(rf"https://{TILE_HOST}/\d+/\d+/\d+\.png", tiles.nth(k).get_attribute("src"))
               for k in range(tiles.count()))
    _assert_base_drawn(page, ["1", "2 Near South"], filled=False)  # boundaries as outlines over the tiles
    assert f"Base map: {TILE_HOST}" in page.locator(".leaflet-control-attribution").inner_text()
    page.screenshot(path=str(ARTIFACTS / "forecast-map-tiles.png"))
    assert not w.errors, w.errors
    assert not w.outside(("file://", "data:", f"https://{TILE_HOST}/")), w.outside()
