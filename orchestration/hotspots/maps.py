"""Offline maps of a cell forecast: a self-contained HTML page (inline SVG, no tiles, no CDN) and a PNG.

District outlines and H3 cells are drawn in a local planar projection; the
highest-risk cells are outlined, patrol cells too when given.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

_PALETTE = ("#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603")


def cell_polygons(h3: Sequence[str]) -> list[np.ndarray]:
    """Boundary rings (lon, lat) of H3 cells."""
    import h3ronpy
    import h3ronpy.vector as h3v
    import shapely

    idx = pa.array(h3ronpy.cells_parse(pa.array(list(h3), pa.string())))
    geoms = shapely.from_wkb(pa.array(h3v.cells_to_wkb_polygons(idx)).to_numpy(zero_copy_only=False))
    return [np.asarray(g.exterior.coords) for g in geoms]


def cell_geometries_wkb(h3: Sequence[str]) -> pa.Array:
    """H3 cells as WKB polygons (EPSG:4326)."""
    import h3ronpy
    import h3ronpy.vector as h3v

    idx = pa.array(h3ronpy.cells_parse(pa.array(list(h3), pa.string())))
    return pa.array(h3v.cells_to_wkb_polygons(idx)).cast(pa.binary())


def write_geoparquet(table: pa.Table, path: Path) -> Path:
    """GeoParquet of the table's ``h3`` cells as polygons, CRS EPSG:4326 in the file's geo metadata."""
    import geopandas as gpd
    import shapely

    df = table.to_pandas()
    geom = shapely.from_wkb(cell_geometries_wkb(df["h3"].tolist()).to_numpy(zero_copy_only=False))
    gpd.GeoDataFrame(df, geometry=geom, crs="EPSG:4326").to_parquet(path)
    return path


def _district_rings(districts_wkb: Sequence[bytes]) -> list[np.ndarray]:
    import shapely

    rings = []
    for g in shapely.from_wkb(np.asarray(list(districts_wkb), dtype=object)):
        for poly in getattr(g, "geoms", [g]):
            if poly.geom_type == "Polygon":
                rings.append(np.asarray(poly.exterior.coords)[:, :2])
    return rings


def _classes(values: np.ndarray) -> np.ndarray:
    """Colour class 0..5 by quantile of the positive values (0 = no expected crime)."""
    cls = np.zeros(len(values), dtype=int)
    pos = values > 0
    if pos.any():
        qs = np.quantile(values[pos], [0.5, 0.8, 0.95, 0.99])
        cls[pos] = 1 + np.searchsorted(qs, values[pos], side="right")
    return np.minimum(cls, len(_PALETTE) - 1)


class _Projector:
    def __init__(self, rings: list[np.ndarray], width: float):
        allpts = np.vstack(rings)
        self.lat0 = float(np.mean(allpts[:, 1]))
        self.kx = np.cos(np.radians(self.lat0))
        x = allpts[:, 0] * self.kx
        y = allpts[:, 1]
        self.x0, self.y1 = x.min(), y.max()
        span = max(x.max() - x.min(), y.max() - y.min())
        self.scale = width / span
        self.width = (x.max() - x.min()) * self.scale
        self.height = (y.max() - y.min()) * self.scale

    def path(self, ring: np.ndarray) -> str:
        px = (ring[:, 0] * self.kx - self.x0) * self.scale
        py = (self.y1 - ring[:, 1]) * self.scale
        return "M" + "L".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py)) + "Z"


def render_html(
    h3: Sequence[str],
    values: np.ndarray,
    districts_wkb: Sequence[bytes],
    *,
    title: str,
    top: np.ndarray | None = None,
    patrol: dict[str, list[str]] | None = None,
    value_label: str = "expected incidents",
    width: int = 900,
) -> str:
    """A standalone HTML page: cells shaded by ``values``, ``top`` cells outlined in black,
    patrol cells (``{shift label: [h3...]}``) outlined in blue with a shift selector."""
    values = np.asarray(values, dtype=np.float64)
    h3 = list(h3)
    rings = cell_polygons(h3)
    drings = _district_rings(districts_wkb)
    proj = _Projector(drings + rings, width)
    cls = _classes(values)
    parts = ['<g id="cells" stroke="none">']
    for cell, ring, c, v in zip(h3, rings, cls, values):
        if c == 0:
            continue  # blank cells stay the background colour; keeps the page small
        parts.append(f'<path d="{proj.path(ring)}" fill="{_PALETTE[c]}"><title>{cell}: {v:.3f}</title></path>')
    parts.append("</g>")
    parts.append('<g id="districts" fill="none" stroke="#555" stroke-width="0.8">')
    parts += [f'<path d="{proj.path(r)}"/>' for r in drings]
    parts.append("</g>")
    pos = {c: i for i, c in enumerate(h3)}
    if top is not None:
        parts.append('<g id="top" fill="none" stroke="#000" stroke-width="1.6">')
        parts += [f'<path d="{proj.path(rings[i])}"><title>{h3[i]}: {values[i]:.3f}</title></path>'
                  for i in np.flatnonzero(top)]
        parts.append("</g>")
    options = ""
    if patrol:
        for k, (label, cells) in enumerate(patrol.items()):
            shown = "inline" if k == 0 else "none"
            parts.append(f'<g class="patrol" data-shift="{html.escape(label)}" style="display:{shown}" fill="none" '
                         'stroke="#1f4fd1" stroke-width="2.2">')
            parts += [f'<path d="{proj.path(rings[pos[c]])}"><title>{label}: {c}</title></path>' for c in cells if c in pos]
            parts.append("</g>")
        options = "".join(f'<option value="{html.escape(s)}">{html.escape(s)}</option>' for s in patrol)
    legend = " ".join(f'<span style="background:{p};padding:0 8px;border:1px solid #999"></span>' for p in _PALETTE[1:])
    selector = (f'<label>Patrol shift: <select id="shift" onchange="showShift(this.value)">{options}</select></label>'
                if patrol else "")
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{proj.width:.0f}" height="{proj.height:.0f}" '
           f'viewBox="0 0 {proj.width:.0f} {proj.height:.0f}" style="background:#f4f4f4">{"".join(parts)}</svg>')
    script = ("<script>function showShift(s){document.querySelectorAll('g.patrol').forEach("
              "g=>{g.style.display=(g.dataset.shift===s)?'inline':'none'});}</script>") if patrol else ""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif'>"
        f"<h2>{html.escape(title)}</h2><p>Shading: {html.escape(value_label)} by quantile (median, 80th, 95th, 99th "
        f"percentile of cells with any) {legend}. Black outline: top cells. "
        f"{'Blue outline: patrol cells of the selected shift. ' if patrol else ''}Hover a cell for its value.</p>"
        f"{selector}<div>{svg}</div>{script}</body></html>"
    )


def render_png(
    h3: Sequence[str],
    values: np.ndarray,
    districts_wkb: Sequence[bytes],
    path,
    *,
    title: str,
    top: np.ndarray | None = None,
    outline: Sequence[str] | None = None,
) -> None:
    """The same map as a PNG (matplotlib, Agg): shaded cells, district outlines, top cells outlined."""
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    values = np.asarray(values, dtype=np.float64)
    h3 = list(h3)
    rings = cell_polygons(h3)
    cls = _classes(values)
    fig = Figure(figsize=(7, 8), layout="constrained")
    ax = fig.subplots()
    keep = np.flatnonzero(cls > 0)
    ax.add_collection(PolyCollection([rings[i] for i in keep], facecolors=[_PALETTE[c] for c in cls[keep]],
                                     edgecolors="none"))
    for r in _district_rings(districts_wkb):
        ax.plot(r[:, 0], r[:, 1], color="#555", lw=0.6)
    if top is not None:
        ax.add_collection(PolyCollection([rings[i] for i in np.flatnonzero(top)], facecolors="none",
                                         edgecolors="black", linewidths=1.0))
    if outline:
        pos = {c: i for i, c in enumerate(h3)}
        ax.add_collection(PolyCollection([rings[pos[c]] for c in outline if c in pos], facecolors="none",
                                         edgecolors="#1f4fd1", linewidths=1.2))
    ax.autoscale_view()
    ax.set_aspect(1 / np.cos(np.radians(np.mean(np.vstack(rings)[:, 1]))))
    ax.set_title(title)
    ax.set_axis_off()
    fig.savefig(path, dpi=110)


def write_forecast_maps(table: pa.Table, districts_wkb: Sequence[bytes], folder: Path, key: str,
                        title: str) -> dict[str, Path]:
    """GeoParquet, HTML map and PNG of a forecast table (``models.hotspots.serving.forecast_table``).

    Returns their paths by metadata name (``geoparquet``, ``map_html``, ``map_png``).
    """
    h3 = table.column("h3").to_pylist()
    values = table.column("expected_count").to_numpy()  # aligned with the table's (rank-ordered) cells
    top = table.column("in_top_cells").to_numpy(zero_copy_only=False)
    paths = {"geoparquet": write_geoparquet(table, folder / f"forecast_{key}.parquet"),
             "map_html": folder / f"forecast_{key}.html", "map_png": folder / f"forecast_{key}.png"}
    paths["map_html"].write_text(render_html(h3, values, districts_wkb, title=title, top=top))
    render_png(h3, values, districts_wkb, paths["map_png"], title=title, top=top)
    return paths


def write_patrol_maps(h3: Sequence[str], expected: np.ndarray, districts_wkb: Sequence[bytes],
                      shifts: dict[str, list[str]], folder: Path, key: str, title: str) -> Path:
    """HTML map with a shift selector (returned) and a PNG outlining every shift's patrol cells."""
    html_path = folder / f"patrol_{key}.html"
    html_path.write_text(render_html(h3, expected, districts_wkb, title=title, patrol=shifts))
    union = sorted({c for cs in shifts.values() for c in cs})
    render_png(h3, expected, districts_wkb, folder / f"patrol_{key}.png", title=f"Patrol cells, week of {key}",
               outline=union)
    return html_path
