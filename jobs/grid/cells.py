"""H3 study-area cells, parent cells, cell neighbourhoods and planar centroids.

Every kernel here is vectorised (h3ronpy / numpy / scipy); none loops over cells
in Python. Cells travel as lower-case hex strings in Arrow and as ``uint64``
indexes inside the numerics.
"""

from __future__ import annotations

from collections.abc import Sequence

import h3ronpy
import h3ronpy.vector as h3v
import numpy as np
import pyarrow as pa
import pyproj
from scipy import sparse
from scipy.spatial import cKDTree
from jobs.grid.schemas import CELLS_SCHEMA


_CONTAINMENT = {
    "covers": h3ronpy.ContainmentMode.Covers,
    "centroid": h3ronpy.ContainmentMode.ContainsCentroid,
    "intersects": h3ronpy.ContainmentMode.IntersectsBoundary,
    "contained": h3ronpy.ContainmentMode.ContainsBoundary,
}

# H3 index bit layout (https://h3geo.org/docs/library/index/cell): resolution in
# bits 52-55, then fifteen 3-bit digits from bit 44 downwards; unused digits are 7.
_RES_SHIFT = np.uint64(52)
_RES_MASK = np.uint64(0xF) << _RES_SHIFT


def _check_resolution(resolution: int) -> int:
    if not isinstance(resolution, (int, np.integer)) or isinstance(resolution, bool):
        raise TypeError(f"resolution must be an int in 0..15, got {type(resolution).__name__}")
    if not 0 <= int(resolution) <= 15:
        raise ValueError(f"resolution must be in 0..15, got {resolution}")
    return int(resolution)


def cells_to_uint64(h3_strings: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Parse H3 hex strings to ``uint64`` indexes.

    Parameters
    ----------
    h3_strings
        H3 cells as hex strings; nulls and unparsable strings are allowed.

    Returns
    -------
    (cells, valid)
        ``uint64`` indexes (0 where invalid) and a boolean validity mask.
    """
    arr = h3_strings
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not isinstance(arr, pa.Array):
        arr = pa.array(list(arr), type=pa.string())
    if pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.string())
    if not pa.types.is_string(arr.type):
        raise TypeError(f"h3 cells must be strings, got Arrow type {arr.type}")
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=bool)
    parsed = pa.array(h3ronpy.cells_parse(arr, set_failing_to_invalid=True))
    valid = parsed.is_valid().to_numpy(zero_copy_only=False)
    cells = parsed.fill_null(0).to_numpy(zero_copy_only=False).astype(np.uint64)
    return cells, valid


def uint64_to_cells(cells: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Format ``uint64`` H3 indexes as lower-case hex strings (null where not ``valid``)."""
    cells = np.asarray(cells, dtype=np.uint64)
    out = pa.array(h3ronpy.cells_to_string(pa.array(cells, type=pa.uint64())))
    if valid is not None and not np.all(valid):
        out = pa.compute.if_else(pa.array(valid), out, pa.scalar(None, pa.string()))
    return out.cast(pa.string())


def parent_uint64(cells: np.ndarray, resolution: int) -> np.ndarray:
    """Parents of ``uint64`` H3 cells at a coarser ``resolution`` by bit arithmetic.

    Cells already at or above ``resolution`` raise, as ``h3.cell_to_parent`` does.
    """
    resolution = _check_resolution(resolution)
    cells = np.asarray(cells, dtype=np.uint64)
    res = ((cells & _RES_MASK) >> _RES_SHIFT).astype(np.int64)
    if cells.size and np.any(res < resolution):
        raise ValueError(
            f"cannot take parents at resolution {resolution} of cells at resolution "
            f"{int(res.min())}; pass cells at resolution >= {resolution}"
        )
    # Digits of resolutions resolution+1..15 sit in the low 3*(15-resolution) bits.
    unused = np.uint64((1 << (3 * (15 - resolution))) - 1)
    return (cells & ~_RES_MASK) | (np.uint64(resolution) << _RES_SHIFT) | unused


def parent_cells(h3_strings: pa.Array | pa.ChunkedArray | Sequence[str | None], resolution: int) -> pa.Array:
    """Parent cell, at ``resolution``, of each H3 hex string (vectorised).

    Parameters
    ----------
    h3_strings
        Cells as hex strings (e.g. the resolution-12 ``h3`` column of ``incidents``).
        Nulls and unparsable values give null.
    resolution
        Target resolution, no finer than every input cell.

    Returns
    -------
    pyarrow.Array
        ``string`` array of parent cells, aligned with the input.

    Notes
    -----
    Bit arithmetic on the H3 index layout (h3geo.org, "H3 Index"): sets the
    resolution field and fills the unused digits with 7, which equals
    ``h3.cell_to_parent`` (checked in the tests).
    """
    cells, valid = cells_to_uint64(h3_strings)
    parents = parent_uint64(cells[valid], resolution)
    out = np.zeros(len(cells), dtype=np.uint64)
    out[valid] = parents
    if not valid.any():
        return pa.nulls(len(cells), type=pa.string())
    # Null slots need a valid index for formatting; any valid parent will do.
    out[~valid] = parents[0]
    return uint64_to_cells(out, valid)


def cells_table(cells: np.ndarray) -> pa.Table:
    """Arrow table (``CELLS_SCHEMA``) of ``uint64`` cells: hex string, area and centroid."""
    cells = np.asarray(cells, dtype=np.uint64)
    arr = pa.array(cells, type=pa.uint64())
    area = pa.array(h3ronpy.cells_area_km2(arr)).to_numpy(zero_copy_only=False)
    coords = pa.record_batch(h3v.cells_to_coordinates(arr))
    return pa.table(
        {
            "h3": uint64_to_cells(cells),
            "area_km2": pa.array(area, type=pa.float64()),
            "lon": coords.column("lng").cast(pa.float64()),
            "lat": coords.column("lat").cast(pa.float64()),
        },
        schema=CELLS_SCHEMA,
    )


def study_area_cells(
    boundaries: pa.Array | pa.ChunkedArray | Sequence[bytes],
    *,
    resolution: int = 9,
    containment: str = "covers",
) -> pa.Table:
    """H3 cells at ``resolution`` covering a set of boundary polygons.

    Parameters
    ----------
    boundaries
        Polygons or multipolygons as WKB (EPSG:4326), e.g. the ``geometry`` column
        of the ``BOUNDARIES`` table.
    resolution
        H3 resolution of the study grid (8, 9 or 10 are the usual choices:
        about 0.74, 0.105 and 0.015 km2 per cell).
    containment
        ``"covers"`` (default: every cell touching a polygon, so every point in
        the study area falls in a cell), ``"centroid"``, ``"intersects"`` or
        ``"contained"``.

    Returns
    -------
    pyarrow.Table
        ``CELLS_SCHEMA``: one row per distinct cell, sorted by index, with its
        area in km2 and centroid lon/lat.

    Notes
    -----
    Polyfill by h3ronpy (``wkb_to_cells``), which wraps H3's ``polygonToCells``
    with the containment modes of h3o.
    """
    resolution = _check_resolution(resolution)
    if containment not in _CONTAINMENT:
        raise ValueError(f"containment must be one of {sorted(_CONTAINMENT)}, got {containment!r}")
    arr = boundaries
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not isinstance(arr, pa.Array):
        arr = pa.array(list(arr), type=pa.binary())
    if not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)):
        raise TypeError(f"boundaries must be WKB binary, got Arrow type {arr.type}")
    if len(arr) == 0:
        raise ValueError("boundaries is empty: pass at least one polygon (WKB, EPSG:4326)")
    arr = arr.drop_null()
    out = h3v.wkb_to_cells(arr, resolution, containment_mode=_CONTAINMENT[containment], flatten=True)
    cells = np.unique(pa.array(out).to_numpy(zero_copy_only=False).astype(np.uint64))
    return cells_table(cells)


def cells_xy_m(lon: np.ndarray, lat: np.ndarray, *, lon0: float | None = None, lat0: float | None = None) -> np.ndarray:
    """Planar coordinates in metres (azimuthal equidistant about the centre).

    City-sized areas distort by well under 0.1% this way, so Euclidean
    distances between the returned points are metres on the ground.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if lon0 is None:
        lon0 = float(np.nanmean(lon)) if lon.size else 0.0
    if lat0 is None:
        lat0 = float(np.nanmean(lat)) if lat.size else 0.0
    proj = pyproj.Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m", always_xy=True
    )
    x, y = proj.transform(lon, lat)
    return np.column_stack([x, y])


def grid_distance_pairs(cells: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (i, j, grid distance) pairs among ``cells`` with grid distance <= ``k``.

    ``i`` and ``j`` index into ``cells``; the diagonal (distance 0) is included.
    Neighbours outside ``cells`` are dropped.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if cells.size == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e
    rb = pa.record_batch(h3ronpy.grid_disk_distances(pa.array(cells, type=pa.uint64()), k))
    cell_lists = rb.column(0)
    dist_lists = rb.column(1)
    offsets = cell_lists.offsets.to_numpy()
    origin = np.repeat(np.arange(len(cells)), np.diff(offsets))
    nb = cell_lists.flatten().to_numpy(zero_copy_only=False).astype(np.uint64)
    dist = dist_lists.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.argsort(cells, kind="stable")
    pos = np.searchsorted(cells[order], nb)
    pos = np.clip(pos, 0, len(cells) - 1)
    found = cells[order][pos] == nb
    return origin[found], order[pos[found]], dist[found]


def grid_weights(cells: np.ndarray, k: int, *, kind: str = "ring") -> sparse.csr_matrix:
    """Sparse cell-by-cell weights over the ``k``-ring.

    ``kind="ring"``: 1 for every cell within grid distance ``k`` (self included);
    ``kind="inverse"``: ``1 / (1 + d)`` (Bowers et al. 2004 spatial weight).
    """
    i, j, d = grid_distance_pairs(cells, k)
    if kind == "ring":
        w = np.ones(len(i))
    elif kind == "inverse":
        w = 1.0 / (1.0 + d)
    else:
        raise ValueError(f"kind must be 'ring' or 'inverse', got {kind!r}")
    n = len(cells)
    return sparse.csr_matrix((w, (i, j)), shape=(n, n))


def quartic_weights(xy: np.ndarray, bandwidth_m: float, *, normalise: bool = False) -> sparse.csr_matrix:
    """Sparse quartic-kernel weights ``(1 - (d/h)^2)^2`` between points within ``h`` metres.

    Parameters
    ----------
    xy
        ``(n, 2)`` planar coordinates in metres (see :func:`cells_xy_m`).
    bandwidth_m
        Kernel bandwidth ``h`` in metres (> 0).
    normalise
        Scale by ``3 / (pi h^2)`` so the kernel integrates to one over the plane.

    Notes
    -----
    The quartic (biweight) kernel of retrospective hotspotting as in open_cp's
    ``retrohotspot.Quartic`` and CrimeStat.
    """
    if not bandwidth_m > 0:
        raise ValueError(f"bandwidth_m must be > 0, got {bandwidth_m}")
    tree = cKDTree(xy)
    dm = tree.sparse_distance_matrix(tree, bandwidth_m, output_type="coo_matrix")
    n = len(xy)
    # sparse_distance_matrix drops zero distances, so the diagonal is added explicitly.
    rows = np.concatenate([dm.row, np.arange(n)])
    cols = np.concatenate([dm.col, np.arange(n)])
    d = np.concatenate([dm.data, np.zeros(n)])
    keep = rows != cols
    keep[len(dm.row):] = True
    rows, cols, d = rows[keep], cols[keep], d[keep]
    w = (1.0 - (d / bandwidth_m) ** 2) ** 2
    if normalise:
        w = w * 3.0 / (np.pi * bandwidth_m**2)
    return sparse.csr_matrix((w, (rows, cols)), shape=(n, n))
