"""Pixel-to-ground homography: control points map back within a metre."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from jobs.geo.points import h3_cells
from vision.geo import GroundProjector, fit_homography, foot_points
from vision.records import Camera, CameraCalibrationError
from vision.synthetic import synthetic_camera, true_lonlat

GEOD = Geod(ellps="WGS84")


def _dist_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def test_control_points_map_back_within_a_metre():
    cam = Camera.from_record(synthetic_camera(n_points=6))
    proj = GroundProjector.from_camera(cam)
    uv = np.array([(p.u, p.v) for p in cam.control_points])
    lon, lat = proj.to_lonlat(uv)
    d = _dist_m(lon, lat, [p.lon for p in cam.control_points], [p.lat for p in cam.control_points])
    assert d.max() < 1.0
    assert proj.residual_m < 1.0


def test_pixels_between_control_points_follow_the_true_homography():
    proj = GroundProjector.from_camera(Camera.from_record(synthetic_camera(n_points=4)))
    rng = np.random.default_rng(0)
    uv = np.column_stack([rng.uniform(0, 640, 50), rng.uniform(110, 360, 50)])
    lon, lat = proj.to_lonlat(uv)
    tlon, tlat = true_lonlat(uv)
    assert _dist_m(lon, lat, tlon, tlat).max() < 0.05


def test_noisy_control_points_fit_by_least_squares():
    rec = synthetic_camera(n_points=8)
    rng = np.random.default_rng(1)
    for p in rec["control_points"]:  # ~0.3 m of survey noise
        p["lon"] += rng.normal(0, 3e-6)
        p["lat"] += rng.normal(0, 3e-6)
    proj = GroundProjector.from_camera(Camera.from_record(rec))
    assert 0.0 < proj.residual_m < 1.5


@pytest.mark.parametrize(
    "points, match",
    [
        ([], "has 0 control points"),
        ([(0, 0, -87.6, 41.8), (1, 0, -87.6, 41.8), (0, 1, -87.6, 41.8)], "has 3 control points"),
        ([(0, 0, -87.60, 41.80), (10, 0, -87.59, 41.80), (20, 0, -87.58, 41.80), (30, 0, -87.57, 41.80)],
         "degenerate"),
    ],
)
def test_camera_without_usable_control_points_is_refused(points, match):
    rec = {"camera_id": "c1", "lon": -87.6, "lat": 41.8,
           "control_points": [{"u": u, "v": v, "lon": x, "lat": y} for u, v, x, y in points]}
    with pytest.raises(CameraCalibrationError, match=match):
        GroundProjector.from_camera(Camera.from_record(rec))


def test_fit_homography_recovers_a_known_matrix():
    h = np.array([[0.5, 0.1, 3.0], [0.02, 0.7, -2.0], [1e-4, 2e-3, 1.0]])
    uv = np.array([[0, 0], [100, 0], [100, 80], [0, 80], [50, 40]], float)
    p = np.column_stack([uv, np.ones(5)]) @ h.T
    got = fit_homography(uv, p[:, :2] / p[:, 2:])
    np.testing.assert_allclose(got / got[2, 2], h, atol=1e-6)


def test_foot_point_is_bottom_centre_and_h3_is_res12_hex():
    np.testing.assert_allclose(foot_points(np.array([[10, 20, 30, 60]])), [[20, 60]])
    cells = h3_cells(np.array([-87.63, np.nan]), np.array([41.88, 41.88])).to_pylist()
    assert cells[1] is None
    import h3

    assert h3.get_resolution(cells[0]) == 12 and cells[0] == cells[0].lower()


def test_camera_record_needs_id_and_position():
    with pytest.raises(ValueError, match="camera_id"):
        Camera.from_record({"lon": 1.0, "lat": 2.0})
