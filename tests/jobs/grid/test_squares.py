"""Tests for jobs.grid.squares: which square holds a point, the half-cell shift, the study area's squares."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import shapely

from jobs.grid.cells import cells_xy_m
from jobs.grid.squares import NOT_H3, square_cells, square_index

BOX = shapely.to_wkb(shapely.box(-87.70, 41.85, -87.65, 41.88))

# Hand-worked, side 100 m. Aligned (origin 0, 0): edges at x, y = ..., 0, 100, 200. Shifted by half a cell
# (origin 50, 50): edges at -50, 50, 150. Points 40 m and 60 m east sit in one aligned square but are split
# by the shifted edge at 50; points 80 m apart across the aligned edge at 100 (60 and 140) share a shifted one.
CASES = [
    # (x, y), aligned (i, j), shifted (i, j)
    ((40.0, 10.0), (0, 0), (-1, -1)),
    ((60.0, 10.0), (0, 0), (0, -1)),
    ((140.0, 10.0), (1, 0), (0, -1)),
    ((149.0, 60.0), (1, 0), (0, 0)),
    ((100.0, 100.0), (1, 1), (0, 0)),  # on an aligned corner: the square to the right and above
    ((50.0, 150.0), (0, 1), (0, 1)),  # on the shifted edges: again to the right and above
    ((-10.0, -0.5), (-1, -1), (-1, -1)),
]


@pytest.mark.parametrize("xy, aligned, shifted", CASES)
def test_square_index_hand_worked(xy, aligned, shifted):
    assert tuple(square_index([xy], 100.0, (0.0, 0.0))[0]) == aligned
    assert tuple(square_index([xy], 100.0, (50.0, 50.0))[0]) == shifted


def test_half_cell_shift_moves_points_across_boundaries():
    pts = np.array([c[0] for c in CASES[:3]])
    a = square_index(pts, 100.0, (0.0, 0.0))
    s = square_index(pts, 100.0, (50.0, 50.0))
    assert (a[0] == a[1]).all() and not (s[0] == s[1]).all()  # 40 and 60: together, then apart
    assert not (a[1] == a[2]).all() and (s[1] == s[2]).all()  # 60 and 140: apart, then together


def test_study_area_squares_hold_every_point_inside_and_nothing_far_outside():
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(-87.70, -87.65, 400), rng.uniform(41.85, 41.88, 400)
    for shift in (0.0, 0.5):
        sq = square_cells(pa.array([BOX]), 300.0, shift=shift)
        pos = sq.positions(np.r_[lon, -87.40, np.nan], np.r_[lat, 41.86, 41.86])
        assert (pos[:400] >= 0).all() and pos[400] == -1 and pos[401] == -1
        # the point's projected coordinates lie inside the square it was given
        xy = sq.xy_of(lon, lat)
        corner = sq.ij[pos[:400]] * 300.0 + np.asarray(sq.origin)
        assert ((xy >= corner) & (xy < corner + 300.0)).all()
        # about 4.2 km x 3.3 km: 14-16 columns and 11-13 rows of 300 m squares
        assert 14 * 11 <= len(sq) <= 16 * 13
    aligned, shifted = square_cells([BOX], 300.0), square_cells([BOX], 300.0, shift=0.5)
    assert np.allclose(np.asarray(shifted.origin) - aligned.origin, 150.0)
    # the aligned grid starts at the area's south-west corner: its first column and row touch it
    sw = cells_xy_m(np.array([-87.70]), np.array([41.85]), lon0=aligned.centre[0], lat0=aligned.centre[1])[0]
    assert aligned.ij.min(axis=0).tolist() == [0, 0] and sw[0] >= aligned.origin[0] - 1e-6


def test_grid_cells_for_the_forecasters():
    sq = square_cells([BOX], 250.0, shift=0.5)
    g = sq.grid_cells()
    assert len(g) == len(sq) and g.resolution == NOT_H3
    assert np.allclose(g.area_km2, 0.0625) and g.index.tolist() == list(range(len(sq)))
    assert len(set(g.h3.to_pylist())) == len(sq) and sq.name == "square 250 m, shifted 0.5"
    assert np.allclose(np.diff(np.unique(g.xy[:, 0])), 250.0)


@pytest.mark.parametrize("kw, match", [({"side_m": 0.0}, "side_m"), ({"side_m": 100.0, "shift": 1.0}, "shift")])
def test_bad_settings_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        square_cells([BOX], **kw)
