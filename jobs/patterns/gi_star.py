"""Getis-Ord Gi* hot spot analysis on H3 cells.

Counts per H3 cell are compared with their k-ring neighbourhood (binary weights,
the cell itself included). Each cell gets an analytic z-score, a conditional
permutation pseudo p-value, a Benjamini-Hochberg adjusted p-value, and a hot or
cold spot class at 90/95/99 % confidence, as ArcGIS's Hot Spot Analysis labels
them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import h3
import numpy as np
import pyarrow as pa
from scipy import sparse, stats

from jobs.stats import benjamini_hochberg
from jobs.patterns.schemas import GI_STAR_SCHEMA

__all__ = ["CLASS_LABELS", "gi_star", "hex_polygons", "kring_neighbors", "study_area_cells"]


#: class -> label, as ArcGIS Hot Spot Analysis (Gi_Bin) names them.
CLASS_LABELS: dict[int, str] = {
    3: "Hot Spot - 99% Confidence",
    2: "Hot Spot - 95% Confidence",
    1: "Hot Spot - 90% Confidence",
    0: "Not Significant",
    -1: "Cold Spot - 90% Confidence",
    -2: "Cold Spot - 95% Confidence",
    -3: "Cold Spot - 99% Confidence",
}

# Elements of (cells x permutations x neighbours) handled at once.
_BLOCK = 4_000_000


def study_area_cells(boundaries: pa.Table, resolution: int) -> list[str]:
    """Every H3 cell whose centre lies in a boundary polygon (WKB ``geometry``): the Gi* study area, sorted.

    The grid's polyfill (:func:`jobs.grid.cells.study_area_cells`) with centroid containment (the same cells
    as h3-py's ``geo_to_cells``, which this used before: checked on the Chicago and NYC layers at
    resolutions 6-10)."""
    from jobs.grid.cells import study_area_cells as polyfill

    if not boundaries.num_rows:
        return []
    return sorted(polyfill(boundaries["geometry"], resolution=resolution, containment="centroid")["h3"].to_pylist())


def hex_polygons(cells: list[str]) -> list:
    """Shapely polygons (lon/lat) of H3 cells."""
    import shapely

    return [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]


def kring_neighbors(cells: list[str], k: int) -> sparse.csr_matrix:
    """Binary k-ring weights among ``cells``, each cell its own neighbour.

    Parameters
    ----------
    cells : list of str
        Distinct H3 cells of one resolution (the study area).
    k : int
        Ring distance; ``k=1`` gives the cell and its 6 neighbours.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``n x n`` matrix of 0/1 weights, ``w[i, j] = 1`` when cell ``j`` is
        within ``k`` grid steps of cell ``i``. Cells outside ``cells`` are not
        neighbours, so edge cells have fewer.
    """
    index = {c: i for i, c in enumerate(cells)}
    rows: list[int] = []
    cols: list[int] = []
    for i, c in enumerate(cells):
        for nb in h3.grid_disk(c, k):
            j = index.get(nb)
            if j is not None:
                rows.append(i)
                cols.append(j)
    n = len(cells)
    data = np.ones(len(rows), dtype=np.float64)
    return sparse.csr_matrix((data, (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))), shape=(n, n))


def _conditional_permutation_p(
    x: np.ndarray, lag: np.ndarray, card: np.ndarray, nperm: int, rng: np.random.Generator
) -> np.ndarray:
    """Two-sided pseudo p-values: cell i keeps its value, its card[i]-1 neighbours are drawn from the rest."""
    n = len(x)
    kmax = int(card.max()) - 1
    if kmax <= 0:
        return np.ones(n)
    # One draw without replacement from the n-1 other cells per permutation,
    # shared by all cells as esda's conditional randomisation does.
    draws = np.stack([rng.choice(n - 1, size=kmax, replace=False) for _ in range(nperm)])
    upper = np.zeros(n, dtype=np.int64)
    lower = np.zeros(n, dtype=np.int64)
    take = np.arange(kmax)
    chunk = max(1, _BLOCK // (nperm * kmax))
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        i = np.arange(a, b)
        idx = draws[None, :, :] + (draws[None, :, :] >= i[:, None, None])  # skip the cell itself
        vals = x[idx]
        vals *= take[None, None, :] < (card[a:b] - 1)[:, None, None]
        sims = vals.sum(axis=2) + x[a:b, None]
        upper[a:b] = (sims >= lag[a:b, None] - 1e-9).sum(axis=1)
        lower[a:b] = (sims <= lag[a:b, None] + 1e-9).sum(axis=1)
    return np.minimum(1.0, 2.0 * (np.minimum(upper, lower) + 1) / (nperm + 1))


def _check_parameters(counts: pa.Table, *, k: int, nperm: int, inference: str, alpha: float, h3_column: str,
                      count_column: str) -> None:
    """TypeError or ValueError naming the first bad argument of :func:`gi_star`."""
    if not isinstance(counts, pa.Table):
        raise TypeError(f"counts must be a pyarrow.Table, got {type(counts).__name__}")
    for col in (h3_column, count_column):
        if col not in counts.column_names:
            raise ValueError(f"counts: missing column {col!r}; columns are {counts.column_names}")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if not isinstance(nperm, (int, np.integer)) or isinstance(nperm, bool) or nperm < 1:
        raise ValueError(f"nperm must be an integer >= 1, got {nperm!r}")
    if inference not in ("sim", "norm"):
        raise ValueError(f"inference must be 'sim' or 'norm', got {inference!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _cell_counts(counts: pa.Table, h3_column: str, count_column: str) -> dict[str, float]:
    """``{cell: count}`` of the input rows; ValueError on an invalid or repeated cell or a bad count."""
    cells_in = counts.column(h3_column).to_pylist()
    values_in = counts.column(count_column).to_numpy(zero_copy_only=False).astype(np.float64)
    for row, c in enumerate(cells_in):
        if c is None or not h3.is_valid_cell(c):
            raise ValueError(f"counts: row {row}: {h3_column}={c!r} is not a valid H3 cell")
    bad = ~np.isfinite(values_in) | (values_in < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"counts: row {row}: {count_column}={values_in[row]!r} must be a non-negative number")
    if len(set(cells_in)) != len(cells_in):
        seen: set[str] = set()
        dup = next(c for c in cells_in if c in seen or seen.add(c))  # type: ignore[func-returns-value]
        raise ValueError(f"counts: cell {dup} appears more than once; aggregate counts per cell first")
    return dict(zip(cells_in, values_in.tolist(), strict=True))


def _study_area(value_of: dict[str, float], study_area: Iterable[str] | pa.Array | pa.ChunkedArray | None) -> list[str]:
    """The sorted cells of the study area (``study_area``, else the counted cells), checked.

    ValueError when a counted cell lies outside ``study_area``, a cell is
    invalid, fewer than 3 cells remain, or the cells mix resolutions.
    """
    if study_area is not None:
        area = study_area.to_pylist() if isinstance(study_area, (pa.Array, pa.ChunkedArray)) else list(study_area)
        area_set = set(area)
        for c in area_set:
            if c is None or not h3.is_valid_cell(c):
                raise ValueError(f"study_area: {c!r} is not a valid H3 cell")
        outside = [c for c in value_of if c not in area_set]
        if outside:
            raise ValueError(f"counts: {len(outside)} cell(s) lie outside study_area, e.g. {outside[0]}")
        cells = sorted(area_set)
    else:
        cells = sorted(value_of)
    if len(cells) < 3:
        raise ValueError(f"need at least 3 cells in the study area, got {len(cells)}")
    resolutions = {h3.get_resolution(c) for c in cells}
    if len(resolutions) > 1:
        raise ValueError(f"cells must share one H3 resolution, found {sorted(resolutions)}")
    return cells


def _classes(z: np.ndarray, p_adj: np.ndarray) -> np.ndarray:
    """ArcGIS Gi_Bin classes: the sign of ``z`` times the confidence level (3, 2, 1: p <= 0.01, 0.05, 0.10)."""
    level = np.select([p_adj <= 0.01, p_adj <= 0.05, p_adj <= 0.10], [3, 2, 1], default=0)
    sign = np.sign(np.nan_to_num(z, nan=0.0)).astype(np.int64)
    return (sign * level).astype(np.int8)


def gi_star(
    counts: pa.Table,
    *,
    k: int = 1,
    study_area: Iterable[str] | pa.Array | pa.ChunkedArray | None = None,
    nperm: int = 999,
    seed: int | None = 1,
    fdr: bool = True,
    alpha: float = 0.05,
    inference: Literal["sim", "norm"] = "sim",
    h3_column: str = "h3",
    count_column: str = "count",
) -> pa.Table:
    """Getis-Ord Gi* z-scores, pseudo p-values and hot/cold spot classes on H3 cells.

    Parameters
    ----------
    counts : pyarrow.Table
        One row per cell: ``h3`` (string) and ``count`` (number of incidents or
        any non-negative measure). Cells must be distinct and of one resolution.
    k : int
        Neighbourhood ring distance (binary weights over ``grid_disk(cell, k)``,
        the cell itself included).
    study_area : iterable of str, optional
        Every cell of the study area. Cells missing from ``counts`` get count 0.
        Without it, the study area is the cells of ``counts``: then cells with
        no incidents must be present with count 0, or the mean is biased up and
        quiet areas can never be cold spots.
    nperm : int
        Number of conditional permutations for ``p_sim`` (at least 1).
    seed : int or None
        Seed of the permutations.
    fdr : bool
        Classify by Benjamini-Hochberg adjusted p-values (default) instead of
        raw ``p_sim``.
    alpha : float
        Level of the ``significant`` flag.
    inference : {"sim", "norm"}
        Which p-value the classes are built on: the permutation ``p_sim``
        (default; its floor is ``2 / (nperm + 1)``, so 99 % classes under FDR
        need several thousand permutations) or the normal ``p_norm`` (as ArcGIS).
    h3_column, count_column : str
        Input column names.

    Returns
    -------
    pyarrow.Table
        :data:`GI_STAR_SCHEMA`, one row per study-area cell, sorted by ``h3``.

    Raises
    ------
    ValueError
        On missing columns, invalid, duplicate or mixed-resolution cells,
        negative or missing counts, cells outside ``study_area``, fewer than 3
        cells, or bad parameters.

    Notes
    -----
    Getis and Ord (1992), "The analysis of spatial association by use of
    distance statistics", *Geographical Analysis* 24(3); Ord and Getis (1995),
    *Geographical Analysis* 27(4), eq. for Gi*:
    ``z_i = (sum_j w_ij x_j - xbar W_i) / (S sqrt((n W_i - W_i^2) / (n - 1))))``
    with ``S^2 = mean(x^2) - xbar^2`` (identical to PySAL ``esda.G_Local(star=True,
    transform='B')``). Conditional permutation as in Anselin (1995) / esda:
    cell ``i`` keeps its value and its ``W_i - 1`` neighbours are drawn without
    replacement from the other ``n - 1`` cells; ``p_sim`` is two-sided,
    ``min(1, 2 (1 + min(#sim >= obs, #sim <= obs)) / (nperm + 1))``.
    Classes follow ArcGIS Hot Spot Analysis (Gi_Bin): a cell is a hot (z > 0)
    or cold (z < 0) spot at 99/95/90 % confidence when its (FDR-adjusted)
    p-value is at most 0.01/0.05/0.10.
    """
    _check_parameters(counts, k=k, nperm=nperm, inference=inference, alpha=alpha, h3_column=h3_column,
                      count_column=count_column)
    value_of = _cell_counts(counts, h3_column, count_column)
    cells = _study_area(value_of, study_area)
    n = len(cells)

    x = np.array([value_of.get(c, 0.0) for c in cells])
    w = kring_neighbors(cells, int(k))
    card = np.asarray(w.sum(axis=1)).ravel()
    lag = w @ x

    mean = x.mean()
    s = np.sqrt(max((x**2).mean() - mean**2, 0.0))
    denom_sq = (n * card - card**2) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (lag - mean * card) / (s * np.sqrt(denom_sq))
    z[~np.isfinite(z)] = np.nan
    p_norm = 2 * stats.norm.sf(np.abs(z))

    rng = np.random.default_rng(seed)
    p_sim = _conditional_permutation_p(x, lag, card.astype(np.int64), int(nperm), rng)
    if s == 0:
        p_sim = np.ones(n)
    p_base = p_sim if inference == "sim" else np.nan_to_num(p_norm, nan=1.0)
    p_adj = benjamini_hochberg(p_base) if fdr else p_base
    klass = _classes(z, p_adj)
    labels = [CLASS_LABELS[int(c)] for c in klass]

    return pa.Table.from_arrays(
        [
            pa.array(cells, pa.string()),
            pa.array(x),
            pa.array(card.astype(np.int32)),
            pa.array(z, mask=np.isnan(z)),
            pa.array(p_norm, mask=np.isnan(p_norm)),
            pa.array(p_sim),
            pa.array(p_adj),
            pa.array(p_adj <= alpha),
            pa.array(klass, pa.int8()),
            pa.array(labels, pa.string()),
        ],
        schema=GI_STAR_SCHEMA,
    )
