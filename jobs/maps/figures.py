"""The maps as matplotlib figures (PNG exports, the README's picture): shaded cells over the labelled
area boundaries, a legend that states each colour's values and unit, the title's local dates, a km
scale bar."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from jobs.maps.cells import cell_rings, colour_classes, format_value
from jobs.maps.layers import Areas, areas_from

__all__ = ["cell_figure", "nice_length_km"]

_KM_PER_DEG_LAT = 111.32


def nice_length_km(span_km: float) -> float:
    """A round scale-bar length (1, 2 or 5 times a power of ten km) of about a fifth of ``span_km``."""
    if not np.isfinite(span_km) or span_km <= 0:
        return 1.0
    target = span_km / 5
    power = 10 ** np.floor(np.log10(target))
    return float(max(m for m in (1, 2, 5) if m * power <= target) * power) if target >= power else float(power)


def cell_figure(
    h3: Sequence[str],
    values: np.ndarray,
    districts: pa.Table | Sequence[bytes] | Areas,
    *,
    title: str,
    subtitle: str = "",
    unit: str = "Expected incidents per cell per week",
    top: np.ndarray | None = None,
    top_label: str = "Top cells",
    outline: Sequence[str] | None = None,
    outline_label: str = "Patrol cells",
):
    """A Figure of cell ``values`` over the area boundaries (labelled when the areas have names).

    ``top`` (a flag per cell) is outlined in black, ``outline`` (cell ids) in blue; both appear in the legend.
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    import matplotlib.patheffects as pe

    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    h3 = [str(c) for c in h3]
    rings = cell_rings(h3)
    areas = areas_from(districts)
    classes = colour_classes(values)
    arings = areas.rings()
    pts = np.vstack(arings + rings) if (arings or rings) else np.zeros((1, 2))
    lat0 = float(np.mean(pts[:, 1]))
    # the map's own shape, about 6.5 in wide, plus the legend beside it
    span = np.ptp(pts, axis=0) if len(pts) > 1 else np.ones(2)
    tall = float(span[1] / max(span[0] * np.cos(np.radians(lat0)), 1e-9))
    fig = Figure(figsize=(10, float(np.clip(6.5 * tall + 1.4, 5.0, 11.0))), layout="constrained")
    ax = fig.subplots()
    shaded = np.flatnonzero(classes.cls > 0)
    ax.add_collection(PolyCollection([rings[i] for i in shaded], facecolors=[classes.colour_of(i) for i in shaded],
                                     edgecolors="none", zorder=2))
    for r in arings:
        ax.fill(r[:, 0], r[:, 1], facecolor="#fbfaf6", edgecolor="none", zorder=1)
        ax.plot(r[:, 0], r[:, 1], color="#3d3d3d", lw=0.8, zorder=3)
    halo = [pe.withStroke(linewidth=2.5, foreground="white")]
    for (x, y), label in zip(areas.label_points(), areas.labels):
        if label:
            ax.text(x, y, label, ha="center", va="center", fontsize=7.5, fontweight="bold", color="#333",
                    path_effects=halo, zorder=6)
    handles = [Patch(facecolor=colour, edgecolor="#999", label=f"{label}  ({n:,} cells)")
               for colour, label, n in classes.legend_rows()]
    if classes.n_zero:
        handles.append(Patch(facecolor="none", edgecolor="#999", linestyle="--",
                             label=f"0  ({classes.n_zero:,} cells, not shaded)"))
    if top is not None and np.any(top):
        sel = np.flatnonzero(np.asarray(top, dtype=bool))
        ax.add_collection(PolyCollection([rings[i] for i in sel], facecolors="none", edgecolors="black",
                                         linewidths=1.0, zorder=4))
        handles.append(Patch(facecolor="none", edgecolor="black", linewidth=1.5, label=f"{top_label} ({len(sel)})"))
    if outline:
        pos = {c: i for i, c in enumerate(h3)}
        sel = [pos[c] for c in outline if c in pos]
        ax.add_collection(PolyCollection([rings[i] for i in sel], facecolors="none", edgecolors="#1f4fd1",
                                         linewidths=1.4, zorder=5))
        handles.append(Patch(facecolor="none", edgecolor="#1f4fd1", linewidth=2, label=f"{outline_label} ({len(sel)})"))
    ax.set_aspect(1 / np.cos(np.radians(lat0)))
    ax.autoscale_view()
    ax.set_axis_off()
    _scale_bar(ax, pts, lat0)
    note = ("Class breaks: median, 80th, 95th and\n99th percentile of the cells with\nany expected incident."
            if classes.breaks else None)
    ax.legend(handles=handles, title=textwrap.fill(unit, 34), loc="upper left", bbox_to_anchor=(1.0, 1.0),
              fontsize=8.5, title_fontsize=9, frameon=False, alignment="left")
    if note:
        ax.annotate(note, xy=(1.0, 0.0), xycoords="axes fraction", xytext=(8, 0), textcoords="offset points",
                    fontsize=7.5, color="#555", va="bottom", ha="left")
    fig.suptitle(title, fontsize=12, fontweight="bold")
    if subtitle:
        ax.set_title(textwrap.fill(subtitle, 110), fontsize=8.5, color="#333")
    return fig


def _scale_bar(ax, pts: np.ndarray, lat0: float) -> None:
    km_per_deg_lon = _KM_PER_DEG_LAT * np.cos(np.radians(lat0))
    x0, x1 = float(pts[:, 0].min()), float(pts[:, 0].max())
    y0, y1 = float(pts[:, 1].min()), float(pts[:, 1].max())
    length = nice_length_km((x1 - x0) * km_per_deg_lon)
    dx = length / km_per_deg_lon
    x, y = x0, y0 - 0.03 * (y1 - y0)
    ax.plot([x, x + dx], [y, y], color="#222", lw=3, solid_capstyle="butt", zorder=6)
    ax.plot([x, x], [y - 0.006 * (y1 - y0), y + 0.006 * (y1 - y0)], color="#222", lw=1, zorder=6)
    ax.plot([x + dx, x + dx], [y - 0.006 * (y1 - y0), y + 0.006 * (y1 - y0)], color="#222", lw=1, zorder=6)
    ax.text(x + dx / 2, y + 0.012 * (y1 - y0), f"{format_value(length)} km", ha="center", va="bottom", fontsize=8,
            zorder=6)
