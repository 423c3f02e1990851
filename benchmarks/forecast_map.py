"""The README's forecast map: the latest week of gold ``hotspot_forecast`` (``make run`` on the bundled
Chicago data), drawn by the same page the ``hotspot_forecast`` asset writes, photographed in Chromium.

    .venv/bin/python benchmarks/forecast_map.py            # -> docs/img/hotspot_forecast_map.png

Reads the lakehouse and the model registry named by the settings (``CRIMEFUSION_LAKE``,
``CRIMEFUSION_HOME``) and writes nothing there: the page goes to a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _serving(settings, model_name: str, version: str) -> str:
    """``Forecast by <method>, v<version>; won the gate: ...`` from the registry, as the asset writes it."""
    from orchestration.resources.tracking import default_tracking

    try:
        from mlflow import MlflowClient

        uri = default_tracking(settings.home).tracking_uri
        tags = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version(model_name, version).tags
    except Exception as exc:  # noqa: BLE001 - a lake without its registry still has a map to draw
        print(f"registry not readable ({exc}); the subtitle names the version only")
        tags = {}
    won_by = tags.get("won_by", "")
    return f"Forecast by {tags.get('method', 'learned')}, v{version}" + (f"; won the gate: {won_by}" if won_by else "")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="chicago_aggravated_assaults")
    parser.add_argument("--week", help="forecast week (default: the latest in gold/hotspot_forecast)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "hotspot_forecast_map.png")
    args = parser.parse_args(argv)

    import pyarrow.compute as pc

    from orchestration.ingest.boundaries import layer_name
    from orchestration.hotspots.maps import write_forecast_maps
    from orchestration.resources.factory import cli_resources

    settings, res = cli_resources()
    lakehouse, sources = res["lakehouse"], res["sources"]
    forecast = lakehouse.read("gold", "hotspot_forecast")
    week = args.week or max(forecast.column("week").to_pylist())
    table = forecast.filter(pc.equal(forecast.column("week"), week)).sort_by("risk_rank")
    spec = sources.spec(args.source)
    districts = lakehouse.read("reference", "police_districts", filters=[("layer", "=", layer_name(spec))])
    serving = _serving(settings, "hotspot_lgbm", table.column("model_version")[0].as_py())
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_forecast_maps(table, districts.select(["area_id", "name", "geometry"]), Path(tmp), week,
                                    timezone=spec.local_timezone, serving=serving, tiles=settings.tiles)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1100, "height": 1000}, device_scale_factor=1)
            page.goto(paths["map_html"].as_uri())
            page.wait_for_selector("body[data-ready='1']")
            page.wait_for_timeout(300)
            box = page.locator("#cf-map").bounding_box()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), clip={"x": 0, "y": 0, "width": 1100,
                                                      "height": box["y"] + box["height"]})
            browser.close()
    print(f"{args.out}: week {week}, {table.num_rows:,} cells, {serving}")


if __name__ == "__main__":
    main()
