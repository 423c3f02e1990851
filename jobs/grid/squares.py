"""Square cells over a study area, in projected metres: the other grid the hotspot methods are ranked on.

H3 hexagons are one way to cut a city into cells; a method that wins only because of where the hexagons'
edges fall wins by the modifiable areal unit problem (Openshaw 1984), not by forecasting. A square grid of
about the same cell area, laid at two origins half a cell apart, is the simplest other cut to check that
against (``models.evaluation.grid_sensitivity``).

Points and the study area's polygons are projected with :func:`jobs.grid.cells.cells_xy_m` (azimuthal
equidistant about the study area's centre), the projection the kernel-density baseline measures
distances in, so a square's side and the distances between square centroids are metres on the ground.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from jobs.grid.cell_features import GridCells
from jobs.grid.cells import cells_xy_m

#: ``GridCells.resolution`` of a square grid: no H3 resolution, so H3-only code (``resolve_events``,
#: k-rings) refuses it instead of misreading square ids as hexagons.
NOT_H3 = -1


def square_index(xy: np.ndarray, side_m: float, origin: tuple[float, float]) -> np.ndarray:
    """``(n, 2)`` integer column and row of the square holding each point.

    Square ``(i, j)`` covers ``[ox + i s, ox + (i + 1) s) x [oy + j s, oy + (j + 1) s)``: a point on an edge
    belongs to the square to its right or above, so every point of the plane is in exactly one square.
    """
    if not side_m > 0:
        raise ValueError(f"side_m must be > 0, got {side_m}")
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    return np.floor((xy - np.asarray(origin, dtype=np.float64)) / float(side_m)).astype(np.int64)


@dataclass(frozen=True)
class SquareCells:
    """The squares of side ``side_m`` that touch the study area, with the projection they are laid in.

    ``ij``: ``(n, 2)`` column and row of each cell, sorted; ``origin``: the corner of square ``(0, 0)`` in
    metres of the projection about ``centre`` (lon, lat); ``shift``: the share of a side the origin was
    moved by in x and y from the aligned grid (whose origin is the study area's south-west corner).
    """

    side_m: float
    origin: tuple[float, float]
    centre: tuple[float, float]
    shift: float
    ij: np.ndarray

    def __len__(self) -> int:
        return len(self.ij)

    @property
    def name(self) -> str:
        """``square 324 m`` or ``square 324 m, shifted 0.5``: how tables name the grid."""
        return f"square {self.side_m:.0f} m" + (f", shifted {self.shift:g}" if self.shift else "")

    @property
    def xy(self) -> np.ndarray:
        """Centroids in metres of the projection."""
        return (self.ij + 0.5) * self.side_m + np.asarray(self.origin)

    def xy_of(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Points (degrees) in metres of the grid's projection."""
        return cells_xy_m(lon, lat, lon0=self.centre[0], lat0=self.centre[1])

    def positions(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Position (row of :attr:`ij`) of the cell holding each point; -1 for a point outside every cell or
        without coordinates."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        out = np.full(len(lon), -1, dtype=np.int64)
        ok = np.isfinite(lon) & np.isfinite(lat)
        if not ok.any():
            return out
        ij = square_index(self.xy_of(lon[ok], lat[ok]), self.side_m, self.origin)
        # the cells are sorted by (i, j): a structured view searches both at once
        keys = _pairs(self.ij)
        want = _pairs(ij)
        pos = np.clip(np.searchsorted(keys, want), 0, len(keys) - 1)
        hit = keys[pos] == want
        out[np.flatnonzero(ok)[hit]] = pos[hit]
        return out

    def grid_cells(self) -> GridCells:
        """The cells as the grid forecasters hold them (``GridForecaster.fit_events``): ids ``i:j``,
        position as index (the tie-break of equal scores), centroids, areas; resolution :data:`NOT_H3`."""
        ids = pa.array([f"{i}:{j}" for i, j in self.ij], pa.string())
        area = np.full(len(self.ij), (self.side_m / 1000.0) ** 2)
        return GridCells(h3=ids, index=np.arange(len(self.ij), dtype=np.uint64), xy=self.xy, area_km2=area,
                         resolution=NOT_H3)


def _pairs(ij: np.ndarray) -> np.ndarray:
    """``(i, j)`` rows as one sortable int64 key (columns and rows of a city grid fit in 31 bits each)."""
    ij = np.asarray(ij, dtype=np.int64)
    return (ij[:, 0] << 32) + (ij[:, 1] + (1 << 31))


def square_cells(boundaries: pa.Array | pa.ChunkedArray | Sequence[bytes], side_m: float, *,
                 shift: float = 0.0) -> SquareCells:
    """The squares of side ``side_m`` touching the study area (WKB polygons, EPSG:4326).

    Parameters
    ----------
    boundaries
        The study area's polygons as WKB, as :func:`jobs.grid.cells.study_area_cells` takes them.
    side_m
        Side of a square in metres.
    shift
        Share of a side the grid's origin moves east and north from the aligned grid (0.5: half a cell),
        in ``[0, 1)``.

    Notes
    -----
    A square is kept when it intersects a polygon, as H3's ``covers`` containment keeps every hexagon
    touching the area: every point of the study area falls in a cell, and every cell counts its whole area.
    """
    import shapely

    if not 0 <= shift < 1:
        raise ValueError(f"shift must be in [0, 1) of a side, got {shift}")
    if not side_m > 0:
        raise ValueError(f"side_m must be > 0, got {side_m}")
    arr = boundaries.combine_chunks() if isinstance(boundaries, pa.ChunkedArray) else boundaries
    wkb = [b for b in (arr.to_pylist() if isinstance(arr, pa.Array) else list(arr)) if b is not None]
    if not wkb:
        raise ValueError("boundaries is empty: pass at least one polygon (WKB, EPSG:4326)")
    area = shapely.union_all(shapely.from_wkb(wkb))
    lon0, lat0, lon1, lat1 = area.bounds
    centre = ((lon0 + lon1) / 2, (lat0 + lat1) / 2)
    area_m = shapely.transform(area, lambda pts: cells_xy_m(pts[:, 0], pts[:, 1], lon0=centre[0], lat0=centre[1]))
    x0, y0, x1, y1 = area_m.bounds
    origin = (x0 + shift * side_m, y0 + shift * side_m)
    lo = square_index([[x0, y0]], side_m, origin)[0]
    hi = square_index([[x1, y1]], side_m, origin)[0]
    ii, jj = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
    ij = np.column_stack([ii.ravel(), jj.ravel()])
    corner = ij * side_m + np.asarray(origin)
    boxes = shapely.box(corner[:, 0], corner[:, 1], corner[:, 0] + side_m, corner[:, 1] + side_m)
    shapely.prepare(area_m)
    ij = ij[shapely.intersects(area_m, boxes)]
    return SquareCells(side_m=float(side_m), origin=origin, centre=centre, shift=float(shift),
                       ij=ij[np.lexsort((ij[:, 1], ij[:, 0]))])
