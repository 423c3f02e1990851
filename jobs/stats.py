"""Statistics more than one kernel family uses (false-discovery control)."""

from __future__ import annotations

import numpy as np

__all__ = ["benjamini_hochberg"]


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
