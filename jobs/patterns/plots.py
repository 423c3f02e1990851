"""Figures of pattern results (matplotlib). Functions return a Figure; the caller saves it."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from jobs.patterns.near_repeat import KnoxResult, band_labels

__all__ = ["hotspot_map", "knox_heatmap"]


def knox_heatmap(
    result: KnoxResult,
    *,
    alpha: float = 0.05,
    distance_unit: str = "m",
    title: str | None = None,
) -> Figure:
    """Heat table of Knox ratios, like the Near Repeat Calculator's summary.

    Cells are coloured by ``log2(knox_ratio)`` (red: more pairs than expected,
    blue: fewer) and annotated with the ratio and the observed count; cells with
    ``p_value <= alpha`` and a ratio above 1 are outlined and starred.

    Parameters
    ----------
    result : KnoxResult
        Output of :func:`jobs.patterns.near_repeat.knox_test`.
    alpha : float
        Significance level for the marks.
    distance_unit : str
        Unit written on the spatial band labels.
    title : str, optional
        Figure title; a default names the test's size.

    Returns
    -------
    matplotlib.figure.Figure
        A figure not attached to pyplot (no global state, no file written).
    """
    ratio = np.asarray(result.knox_ratio, dtype=float)
    n_s, n_t = ratio.shape
    with np.errstate(divide="ignore"):
        logr = np.log2(np.where(ratio > 0, ratio, np.nan))
    finite = logr[np.isfinite(logr)]
    span = max(1.0, float(np.abs(finite).max()) if finite.size else 1.0)
    fig = Figure(figsize=(1.6 + 1.5 * n_t, 1.2 + 0.6 * n_s), layout="constrained")
    ax = fig.subplots()
    cmap = "RdBu_r"
    img = ax.imshow(np.ma.masked_invalid(logr), cmap=cmap, norm=TwoSlopeNorm(0.0, -span, span), aspect="auto")
    ax.set_facecolor("#eeeeee")  # undefined or zero ratios
    significant = (result.p_value <= alpha) & (ratio > 1)
    for i in range(n_s):
        for j in range(n_t):
            r = ratio[i, j]
            text = "n/a" if not np.isfinite(r) else f"{r:.2f}"
            text += f"\n(n={int(result.observed[i, j])})"
            if significant[i, j]:
                text = "*" + text
                ax.add_patch(
                    _rect(j - 0.5, i - 0.5),
                )
            ax.text(j, i, text, ha="center", va="center", fontsize=8, fontweight="bold" if significant[i, j] else "normal")
    ax.set_xticks(range(n_t), band_labels(result.tds, "days"), rotation=20, ha="right")
    ax.set_yticks(range(n_s), band_labels(result.sds, distance_unit))
    ax.set_xlabel("time between events")
    ax.set_ylabel("distance between events")
    ax.set_title(
        title
        or f"Knox ratios, {result.n_events:,} events, {result.nrep} permutations (* p <= {alpha:g}, ratio > 1)",
        fontsize=9,
    )
    fig.colorbar(img, ax=ax, label="log2(observed / expected)")
    return fig


def _rect(x0: float, y0: float):
    from matplotlib.patches import Rectangle

    return Rectangle((x0, y0), 1, 1, fill=False, edgecolor="black", linewidth=2)


#: Fill colour of each Gi* class (hot spots red, cold spots blue, not significant grey).
GI_COLOURS = {3: "#d7191c", 2: "#fc8d59", 1: "#fdcc8a", 0: "#f0f0f0", -1: "#c6dbef", -2: "#6baed6", -3: "#2171b5"}


def hotspot_map(cells: list[str], classes: np.ndarray, boundaries, title: str) -> Figure:
    """H3 cells coloured by Gi* class (:func:`jobs.patterns.gi_star.gi_star`) with the outlines of the boundary
    polygons (a table with WKB ``geometry``); no base map."""
    import shapely
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    from jobs.patterns.gi_star import CLASS_LABELS, hex_polygons

    fig = Figure(figsize=(7, 9), layout="constrained")
    ax = fig.subplots()
    polys = [np.asarray(p.exterior.coords) for p in hex_polygons(cells)]
    ax.add_collection(PolyCollection(polys, facecolors=[GI_COLOURS[int(c)] for c in classes], edgecolors="none"))
    for geom in shapely.from_wkb(boundaries["geometry"].to_numpy(zero_copy_only=False)):
        for part in getattr(geom, "geoms", [geom]):
            xs, ys = part.exterior.xy
            ax.plot(xs, ys, color="#333333", linewidth=0.6)
    ax.autoscale_view()
    ax.set_aspect(1 / np.cos(np.radians(np.mean(ax.get_ylim()))))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title, fontsize=9)
    present = sorted(set(int(c) for c in classes), reverse=True)
    ax.legend(handles=[Patch(facecolor=GI_COLOURS[c], edgecolor="#999999", label=CLASS_LABELS[c]) for c in present],
              loc="lower left", fontsize=7)
    return fig
