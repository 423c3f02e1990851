"""Area assignment: ST_Contains, then the nearest-polygon fallback on SedonaDB ST_KNN."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import shapely
from pyproj import Transformer

from jobs.geo.areas import assign_areas, nearest_areas
from jobs.geo.points import local_metric_crs

sedonadb = pytest.importorskip("sedonadb")

LON0, LAT0 = -87.65, 41.85  # Chicago


@pytest.fixture(scope="module")
def ctx():
    return sedonadb.connect()


def _random_areas(rng, n: int) -> pa.Table:
    """``n`` scattered rectangles and triangles of 50-800 m, ids shuffled so id order says nothing."""
    geoms = []
    for _ in range(n):
        cx, cy = LON0 + rng.uniform(-0.1, 0.1), LAT0 + rng.uniform(-0.08, 0.08)
        w, h = rng.uniform(0.0006, 0.01, size=2)
        if rng.random() < 0.5:
            geoms.append(shapely.box(cx, cy, cx + w, cy + h))
        else:
            geoms.append(shapely.Polygon([(cx, cy), (cx + w, cy), (cx + w / 2, cy + h)]))
    ids = [f"A{k:03d}" for k in rng.permutation(n)]
    return pa.table({"area_id": ids, "geometry": shapely.to_wkb(geoms)})


def _brute_force(lon, lat, areas: pa.Table):
    """Distance in metres from every point to every polygon (same metric CRS), no index."""
    polys = shapely.from_wkb(areas["geometry"].to_numpy(zero_copy_only=False))
    centre = shapely.centroid(shapely.union_all(polys))
    t = Transformer.from_crs("EPSG:4326", local_metric_crs(centre.x, centre.y), always_xy=True)
    polys_m = shapely.transform(polys, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    pts = shapely.points(*t.transform(lon, lat))
    return shapely.distance(pts[:, None], polys_m[None, :])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_st_knn_nearest_equals_brute_force(ctx, seed):
    rng = np.random.default_rng(seed)
    areas = _random_areas(rng, 40)
    n = 600
    lon = LON0 + rng.uniform(-0.13, 0.13, n)
    lat = LAT0 + rng.uniform(-0.1, 0.1, n)
    lon[:3] = np.nan  # missing coordinates get no area
    ids, dist = nearest_areas(lon, lat, areas, ctx=ctx)

    assert all(v is None for v in ids[:3]) and np.isinf(dist[:3]).all()
    d = _brute_force(lon[3:], lat[3:], areas)
    best = d.min(axis=1)
    np.testing.assert_allclose(dist[3:], best, rtol=1e-9, atol=1e-6)
    names = areas["area_id"].to_numpy(zero_copy_only=False)
    expected = np.array([min(names[row <= b + 1e-6]) for row, b in zip(d, best)], dtype=object)
    assert (ids[3:] == expected).all()
    assert (best == 0).any() and (best > 1000).any()  # the draw has points inside and far outside


def test_st_knn_measures_to_the_polygon_not_its_centroid(ctx):
    # a long thin polygon whose edge is 550 m away but whose centroid is km away, and a small one 1.1 km away
    long_ = shapely.box(LON0 - 0.05, LAT0, LON0 + 0.05, LAT0 + 0.001)
    small = shapely.box(LON0 - 0.0005, LAT0 + 0.016, LON0 + 0.0005, LAT0 + 0.017)
    areas = pa.table({"area_id": ["long", "small"], "geometry": shapely.to_wkb([long_, small])})
    ids, dist = nearest_areas(np.array([LON0 + 0.04]), np.array([LAT0 + 0.006]), areas, ctx=ctx)
    assert ids[0] == "long"
    assert 500 < dist[0] < 600


def test_equally_near_polygons_break_ties_by_area_id(ctx):
    left, right = shapely.box(-1.0, 0.0, 0.0, 1.0), shapely.box(1.0, 0.0, 2.0, 1.0)
    areas = pa.table({"area_id": ["zz", "aa"], "geometry": shapely.to_wkb([left, right])})
    ids, _ = nearest_areas(np.array([0.5]), np.array([0.5]), areas, ctx=ctx)
    assert ids[0] == "aa"


def test_assign_areas_contains_then_nearest_within_tolerance(ctx):
    box = shapely.box(LON0, LAT0, LON0 + 0.01, LAT0 + 0.01)
    areas = pa.table({"area_id": ["D1"], "geometry": shapely.to_wkb([box])})
    t = Transformer.from_crs("EPSG:4326", local_metric_crs(LON0, LAT0), always_xy=True)
    x0, y0 = t.transform(LON0, LAT0)
    # inside; ~100 m west of the west edge; ~400 m west; missing
    back = Transformer.from_crs(local_metric_crs(LON0, LAT0), "EPSG:4326", always_xy=True)
    lon100, _ = back.transform(x0 - 100, t.transform(LON0, LAT0 + 0.005)[1])
    lon400, _ = back.transform(x0 - 400, t.transform(LON0, LAT0 + 0.005)[1])
    lon = np.array([LON0 + 0.005, lon100, lon400, np.nan])
    lat = np.array([LAT0 + 0.005, LAT0 + 0.005, LAT0 + 0.005, np.nan])
    area, dist = assign_areas(lon, lat, areas, ctx=ctx, tolerance_m=250.0)
    assert area.to_pylist() == ["D1", "D1", None, None]
    expected = _brute_force(lon[:2], lat[:2], areas)[:, 0]
    assert dist[0] == 0.0 and 90 < dist[1] < 120 and dist[1] == pytest.approx(expected[1], abs=1e-6)
    assert np.isnan(dist[2]) and np.isnan(dist[3])
