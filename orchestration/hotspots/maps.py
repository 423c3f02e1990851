"""Write a forecast's and a patrol plan's maps into the reports folder: GeoParquet, HTML page, PNG.

The pages and figures are drawn by :mod:`jobs.maps` (Leaflet shipped inside the package and inlined:
one file that works offline from ``file://``); this module names the files and writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.maps.layers import TileLayer


def cell_geometries_wkb(h3: Sequence[str]) -> pa.Array:
    """H3 cells as WKB polygons (EPSG:4326)."""
    import h3ronpy
    import h3ronpy.vector as h3v

    idx = pa.array(h3ronpy.cells_parse(pa.array(list(h3), pa.string())))
    return pa.array(h3v.cells_to_wkb_polygons(idx)).cast(pa.binary())


def write_geoparquet(table: pa.Table, path: Path) -> Path:
    """GeoParquet 1.1 of the table's ``h3`` cells as polygons (EPSG:4326), through :mod:`orchestration.platform.gis`."""
    from orchestration.platform.gis import write_geoparquet as write

    cells = table.drop_columns([c for c in ("geometry",) if c in table.column_names])
    write(cells.append_column("geometry", cell_geometries_wkb(cells.column("h3").to_pylist())), path)
    return path


def _tiles(tiles: str | None) -> TileLayer | None:
    return TileLayer(tiles) if tiles else None


def render_png(h3: Sequence[str], values: np.ndarray, districts, path, *, title: str, subtitle: str = "",
               top: np.ndarray | None = None, outline: Sequence[str] | None = None,
               outline_label: str = "Patrol cells") -> None:
    """The map as a PNG (:func:`jobs.maps.figures.cell_figure`): legend with values, title, km scale bar."""
    from jobs.maps.figures import cell_figure

    fig = cell_figure(h3, values, districts, title=title, subtitle=subtitle, top=top, outline=outline,
                      outline_label=outline_label)
    fig.savefig(path, dpi=110)


def write_forecast_maps(table: pa.Table, districts, folder: Path, key: str, *, timezone: str = "UTC",
                        serving: str = "", tiles: str | None = None, layers: Sequence = ()) -> dict[str, Path]:
    """GeoParquet, HTML page and PNG of the week ``key``'s forecast table (``models.hotspots.serving.forecast_table``).

    ``districts``: the study area's boundary rows (``area_id``, ``name``, ``geometry``); ``timezone``: the
    study area's (the title's local dates); ``serving``: one line naming the method and its margin;
    ``tiles``: a tile-server URL template (``Settings.tiles``), else the boundaries are the base.
    Returns the paths by metadata name (``geoparquet``, ``map_html``, ``map_png``).
    """
    from jobs.maps.pages import forecast_page, forecast_title

    week = pd.Timestamp(key, tz="UTC")
    paths = {"geoparquet": write_geoparquet(table, folder / f"forecast_{key}.parquet"),
             "map_html": folder / f"forecast_{key}.html", "map_png": folder / f"forecast_{key}.png"}
    paths["map_html"].write_text(forecast_page(table, districts, week=week, timezone=timezone, serving=serving,
                                               tiles=_tiles(tiles), layers=layers), encoding="utf-8")
    top = table.column("in_top_cells").to_numpy(zero_copy_only=False)
    render_png(table.column("h3").to_pylist(), table.column("expected_count").to_numpy(), districts,
               paths["map_png"], title=forecast_title(week, timezone), subtitle=serving, top=top)
    return paths


def write_patrol_maps(h3: Sequence[str], expected: np.ndarray, districts, plan: pa.Table, folder: Path, key: str,
                      *, timezone: str = "UTC", tiles: str | None = None, layers: Sequence = ()) -> dict[str, Path]:
    """HTML page (shift selector, patrol cells per shift as tables) and PNG (every shift's patrol cells
    outlined) of the week ``key``'s patrol plan (:func:`jobs.grid.patrol.patrol_plan`); paths by
    metadata name (``map_html``, ``map_png``)."""
    from jobs.maps.pages import patrol_page, patrol_title

    week = pd.Timestamp(key, tz="UTC")
    paths = {"map_html": folder / f"patrol_{key}.html", "map_png": folder / f"patrol_{key}.png"}
    paths["map_html"].write_text(patrol_page(h3, expected, plan, districts, week=week, timezone=timezone,
                                             tiles=_tiles(tiles), layers=layers), encoding="utf-8")
    union = sorted(set(plan.column("h3").to_pylist()))
    render_png(h3, expected, districts, paths["map_png"], title=patrol_title(week, timezone),
               subtitle=f"Blue: the cells patrolled in at least one of the week's shifts; times {timezone}.",
               outline=union, outline_label="Patrol cells, any shift")
    return paths
