"""Tests for jobs.grid.cells: polyfill, parents, neighbourhoods, kernel weights."""

from __future__ import annotations

import h3
import numpy as np
import pyarrow as pa
import pytest
import shapely

from jobs.grid.cells import (cells_to_uint64, grid_distance_pairs, grid_weights, parent_cells, quartic_weights,
                             study_area_cells)
from jobs.grid.schemas import CELLS_SCHEMA

BOX = shapely.to_wkb(shapely.box(-87.70, 41.85, -87.65, 41.88))


@pytest.mark.parametrize("resolution", [8, 9, 10])
def test_study_area_cells_cover_every_point_in_the_polygon(resolution):
    cells = study_area_cells(pa.array([BOX]), resolution=resolution)
    assert cells.schema == CELLS_SCHEMA
    rng = np.random.default_rng(0)
    lon = rng.uniform(-87.70, -87.65, 300)
    lat = rng.uniform(41.85, 41.88, 300)
    pts = {h3.latlng_to_cell(a, b, resolution) for a, b in zip(lat, lon)}
    assert pts <= set(cells.column("h3").to_pylist())
    # Areas agree with h3-py and are positive.
    first = cells.column("h3")[0].as_py()
    assert cells.column("area_km2")[0].as_py() == pytest.approx(h3.cell_area(first, "km^2"), rel=1e-9)


def test_centroid_containment_is_a_subset_of_covers():
    cov = set(study_area_cells([BOX], resolution=9).column("h3").to_pylist())
    cen = set(study_area_cells([BOX], resolution=9, containment="centroid").column("h3").to_pylist())
    assert cen < cov


@pytest.mark.parametrize(
    "bad, exc",
    [
        (dict(resolution=16), ValueError),
        (dict(resolution="9"), TypeError),
        (dict(containment="inside"), ValueError),
    ],
)
def test_study_area_cells_rejects_bad_settings(bad, exc):
    with pytest.raises(exc):
        study_area_cells([BOX], **{"resolution": 9, **bad})


def test_parent_cells_match_h3_py_and_keep_nulls():
    rng = np.random.default_rng(1)
    fine = [h3.latlng_to_cell(la, lo, 12) for la, lo in zip(rng.uniform(-60, 60, 50), rng.uniform(-180, 180, 50))]
    for r in (8, 9, 10, 12):
        got = parent_cells(pa.array(fine + [None, "nonsense"]), r).to_pylist()
        assert got[:-2] == [h3.cell_to_parent(c, r) for c in fine]
        assert got[-2:] == [None, None]


def test_parent_cells_refuses_finer_target():
    with pytest.raises(ValueError, match="resolution"):
        parent_cells([h3.latlng_to_cell(41.8, -87.6, 9)], 10)


def test_grid_distance_pairs_ring_of_one_cell():
    c = h3.latlng_to_cell(41.8, -87.6, 9)
    disk = [c] + sorted(h3.grid_ring(c, 1))
    idx, _ = cells_to_uint64(disk)
    i, j, d = grid_distance_pairs(idx, 1)
    centre = i == 0
    assert sorted(j[centre].tolist()) == list(range(7))
    assert d[centre & (j == 0)].tolist() == [0]
    w = grid_weights(idx, 1, kind="inverse").toarray()
    assert w[0, 0] == 1.0 and w[0, 1] == 0.5


def test_quartic_weights_hand_values():
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [300.0, 0.0]])
    w = quartic_weights(xy, 200.0).toarray()
    assert w[0, 0] == 1.0
    assert w[0, 1] == pytest.approx((1 - 0.25) ** 2)
    assert w[0, 2] == 0.0  # beyond the bandwidth
    assert np.allclose(w, w.T)
