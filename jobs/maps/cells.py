"""H3 cells on a map: outlines, colour classes by quantile, and the legend that states their values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["CLASS_QUANTILES", "PALETTE", "ColourClasses", "cell_rings", "colour_classes", "format_value",
           "rank_of"]

#: Sequential oranges (ColorBrewer ``Oranges``), light to dark; cells with no expected crime stay unshaded.
PALETTE = ("#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603")
#: Class breaks: these quantiles of the cells with a positive value (median, 80th, 95th, 99th percentile).
CLASS_QUANTILES = (0.5, 0.8, 0.95, 0.99)


def cell_rings(h3: Sequence[str]) -> list[np.ndarray]:
    """Boundary ring ``(n, 2)`` of each H3 cell, as (lon, lat), in the order given."""
    import h3ronpy
    import h3ronpy.vector as h3v
    import shapely

    if len(h3) == 0:
        return []
    idx = pa.array(h3ronpy.cells_parse(pa.array(list(h3), pa.string())))
    geoms = shapely.from_wkb(pa.array(h3v.cells_to_wkb_polygons(idx)).to_numpy(zero_copy_only=False))
    return [np.asarray(g.exterior.coords)[:, :2] for g in geoms]


def format_value(v: float, digits: int = 2) -> str:
    """``v`` to ``digits`` significant figures, never in scientific notation (``0.017``, ``0.34``, ``12``)."""
    if not np.isfinite(v):
        return "n/a"
    if v == 0:
        return "0"
    return np.format_float_positional(float(v), precision=digits, unique=True, fractional=False, trim="-")


def rank_of(h3: Sequence[str], values: np.ndarray) -> np.ndarray:
    """1-based rank of each cell by descending value, ties broken by cell id
    (the order of :func:`models.hotspots.serving.forecast_table`'s ``risk_rank``)."""
    ids = np.asarray(list(h3), dtype=object).astype(str)
    order = np.lexsort((ids, -np.asarray(values, dtype=np.float64)))
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(1, len(ids) + 1)
    return rank


@dataclass(frozen=True)
class ColourClasses:
    """Colour classes of cell values and the legend rows that state them.

    ``cls[i]`` is cell ``i``'s class: 0 for a value of 0 or less (not shaded), else
    ``1..len(colours)``, the class whose colour is ``colours[cls - 1]``.
    """

    breaks: tuple[float, ...]
    colours: tuple[str, ...]
    labels: tuple[str, ...]
    counts: tuple[int, ...]
    cls: np.ndarray
    n_zero: int

    def colour_of(self, i: int) -> str | None:
        c = int(self.cls[i])
        return self.colours[c - 1] if c > 0 else None

    def legend_rows(self) -> list[tuple[str, str, int]]:
        """``(colour, value range, cells)`` of each class that has cells, darkest first."""
        rows = [(c, label, n) for c, label, n in zip(self.colours, self.labels, self.counts) if n > 0]
        return rows[::-1]


def colour_classes(values: np.ndarray, quantiles: Sequence[float] = CLASS_QUANTILES) -> ColourClasses:
    """Classes of ``values`` by quantile of the positive ones; the legend labels give each class's range.

    Breaks that coincide (many equal values) are merged, so every class has a distinct range;
    the darkest colour is always the top class.
    """
    values = np.asarray(values, dtype=np.float64)
    pos = values > 0
    breaks = np.unique(np.quantile(values[pos], list(quantiles))) if pos.any() else np.array([], dtype=np.float64)
    breaks = breaks[breaks > 0]
    k = len(breaks) + 1
    colours = PALETTE[len(PALETTE) - k:] if k <= len(PALETTE) else PALETTE  # fixed quantiles: k <= 5
    cls = np.zeros(len(values), dtype=np.int64)
    cls[pos] = 1 + np.searchsorted(breaks, values[pos], side="right")
    cls = np.minimum(cls, len(colours))
    text = _distinct([format_value(b) for b in breaks], breaks)
    if k == 1:
        labels = ["above 0"]
    else:
        labels = [f"under {text[0]}"] + [f"{a} – {b}" for a, b in zip(text[:-1], text[1:])] + [f"{text[-1]} or more"]
    counts = tuple(int((cls == c).sum()) for c in range(1, len(colours) + 1))
    return ColourClasses(tuple(float(b) for b in breaks), tuple(colours), tuple(labels), counts, cls,
                         int((~pos).sum()))


def _distinct(text: list[str], breaks: np.ndarray) -> list[str]:
    """More significant figures until neighbouring break labels differ."""
    digits = 2
    while len(set(text)) < len(text) and digits < 8:
        digits += 1
        text = [format_value(b, digits) for b in breaks]
    return text
