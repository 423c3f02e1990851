"""Statistics more than one kernel family uses (false-discovery control, paired margins)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Margin", "benjamini_hochberg", "paired_margin"]


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input's shape.

    A test is a discovery at false-discovery rate ``alpha`` when its q-value is
    ``<= alpha`` (step-up procedure).

    Parameters
    ----------
    p_values : array_like of float
        p-values in [0, 1], any shape.

    Returns
    -------
    numpy.ndarray
        ``q[i] = min(1, min over j with p[j] >= p[i] of p[j] * m / rank(j))``.

    Notes
    -----
    NaN p-values are not tests: they are left out of the count ``m`` and of the
    ranking, and their q-value stays NaN (a window with no baseline, a cell with
    no p-value). Without NaN this is the textbook procedure of Benjamini &
    Hochberg 1995, "Controlling the false discovery rate", *JRSS B* 57(1), as
    R's ``p.adjust(p, "BH")`` computes it. Valid under
    positive regression dependence (Benjamini & Yekutieli 2001), which
    overlapping windows of one series and neighbouring cells' Gi* statistics
    satisfy.
    """
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return q
    pv = p[ok]
    order = np.argsort(pv, kind="stable")
    ranked = pv[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    q[ok] = out
    return q


@dataclass(frozen=True)
class Margin:
    """How far ``a`` beat ``b`` over the periods both were scored on (the champion gate's weeks, a profile's
    validation periods): mean paired difference and its standard error (NaN with fewer than two)."""

    mean: float
    se: float
    n: int

    @property
    def beats(self) -> bool:
        """Won by more than one paired standard error (needs at least two periods)."""
        return self.n >= 2 and np.isfinite(self.se) and self.mean > self.se

    def text(self) -> str:
        se = f" ± {self.se:.2f} SE" if np.isfinite(self.se) else ""
        return f"{self.mean:+.2f}{se} over {self.n} week{'s' if self.n != 1 else ''}"


def paired_margin(a: Sequence[float], b: Sequence[float]) -> Margin:
    """:class:`Margin` of ``a`` over ``b``, paired by period; periods where either is NaN are left out."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired series differ in length: {x.shape} vs {y.shape}")
    d = (x - y)[np.isfinite(x) & np.isfinite(y)]
    if d.size == 0:
        return Margin(float("nan"), float("nan"), 0)
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size >= 2 else float("nan")
    return Margin(float(d.mean()), se, int(d.size))
