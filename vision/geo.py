"""Pixel-to-ground projection: a planar homography per camera from its control points.

The ground near a camera is treated as a plane. Control points (pixel ``u, v`` and
``lon, lat``) are moved into a local metric tangent plane centred on the camera
(azimuthal equidistant projection, metres east/north), a homography is fitted
image -> plane, and any pixel is mapped through it and back to lon/lat.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pyproj import Transformer

from vision.records import Camera, CameraCalibrationError

__all__ = ["GroundProjector", "fit_homography", "foot_points"]

#: A homography needs four correspondences, no three of them on one line.
MIN_CONTROL_POINTS = 4


@lru_cache(maxsize=256)
def _local_transformer(lon0: float, lat0: float):
    proj = f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m +no_defs"
    return Transformer.from_crs("EPSG:4326", proj, always_xy=True)


def fit_homography(uv: np.ndarray, xy: np.ndarray, *, ransac_threshold_m: float | None = None) -> np.ndarray:
    """Fit the 3x3 homography that maps image pixels ``uv`` to plane metres ``xy``.

    Parameters
    ----------
    uv, xy : ndarray, shape (n, 2)
        Pixel coordinates and the matching ground coordinates (metres), ``n >= 4``.
    ransac_threshold_m : float, optional
        With a value, fit with RANSAC (``cv2.RANSAC``), rejecting control points off
        by more than this many metres; without, least squares over all points.

    Returns
    -------
    ndarray, shape (3, 3)

    Raises
    ------
    CameraCalibrationError
        Fewer than four points, or a degenerate (e.g. collinear) configuration.

    Notes
    -----
    Direct linear transform with normalisation, as OpenCV's ``cv2.findHomography``
    (Hartley & Zisserman, *Multiple View Geometry*, 2nd ed., algorithm 4.2).
    """
    import cv2

    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(uv) != len(xy):
        raise CameraCalibrationError(f"{len(uv)} pixel points but {len(xy)} ground points")
    if len(uv) < MIN_CONTROL_POINTS:
        raise CameraCalibrationError(
            f"a homography needs at least {MIN_CONTROL_POINTS} control points, found {len(uv)}"
        )
    if not (np.isfinite(uv).all() and np.isfinite(xy).all()):
        raise CameraCalibrationError("control points contain NaN or infinite values")
    if ransac_threshold_m is None:
        h, _ = cv2.findHomography(uv, xy, 0)
    else:
        h, _ = cv2.findHomography(uv, xy, cv2.RANSAC, float(ransac_threshold_m))
    if h is None or not np.isfinite(h).all() or abs(np.linalg.det(h)) < 1e-12:
        raise CameraCalibrationError(
            "control points are degenerate (three or more on one line, or repeated): "
            "pick four or more spread over the ground plane"
        )
    return h


@dataclass(frozen=True)
class GroundProjector:
    """Maps image pixels of one camera to lon/lat.

    Build it with :meth:`from_camera`; ``residual_m`` is the largest distance, in
    metres, between a control point's ground position and its pixel projected
    through the fitted homography.
    """

    camera_id: str
    lon0: float
    lat0: float
    homography: np.ndarray
    residual_m: float

    @classmethod
    def from_camera(cls, camera: Camera, *, ransac_threshold_m: float | None = None) -> "GroundProjector":
        """Fit the projector of ``camera`` from its control points.

        Raises
        ------
        CameraCalibrationError
            The camera has fewer than four usable control points.
        """
        if len(camera.control_points) < MIN_CONTROL_POINTS:
            raise CameraCalibrationError(
                f"camera {camera.camera_id!r} has {len(camera.control_points)} control points; "
                f"at least {MIN_CONTROL_POINTS} pixel-to-ground points (u, v, lon, lat) are needed "
                "to geolocate its detections"
            )
        uv = np.array([(p.u, p.v) for p in camera.control_points], dtype=np.float64)
        lonlat = np.array([(p.lon, p.lat) for p in camera.control_points], dtype=np.float64)
        fwd = _local_transformer(camera.lon, camera.lat)
        x, y = fwd.transform(lonlat[:, 0], lonlat[:, 1])
        xy = np.column_stack([x, y])
        try:
            h = fit_homography(uv, xy, ransac_threshold_m=ransac_threshold_m)
        except CameraCalibrationError as exc:
            raise CameraCalibrationError(f"camera {camera.camera_id!r}: {exc}") from None
        proj = _apply(h, uv)
        residual = float(np.max(np.hypot(*(proj - xy).T)))
        return cls(camera.camera_id, camera.lon, camera.lat, h, residual)

    def to_plane(self, uv: np.ndarray) -> np.ndarray:
        """Pixels ``(n, 2)`` -> local plane metres east/north of the camera ``(n, 2)``."""
        return _apply(self.homography, np.asarray(uv, dtype=np.float64).reshape(-1, 2))

    def to_lonlat(self, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels ``(n, 2)`` -> ``(lon, lat)`` arrays (EPSG:4326).

        Pixels above the horizon (where the homography's scale turns negative) get NaN.
        """
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        if len(uv) == 0:
            return np.empty(0), np.empty(0)
        pts = np.column_stack([uv, np.ones(len(uv))]) @ self.homography.T
        w = pts[:, 2]
        ok = w > 1e-12 if np.median(w) > 0 else w < -1e-12
        xy = np.full((len(uv), 2), np.nan)
        xy[ok] = pts[ok, :2] / w[ok, None]
        inv = _local_transformer(self.lon0, self.lat0)
        lon, lat = inv.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        lon[~ok] = np.nan
        lat[~ok] = np.nan
        return lon, lat


def _apply(h: np.ndarray, uv: np.ndarray) -> np.ndarray:
    pts = np.column_stack([uv, np.ones(len(uv))]) @ h.T
    return pts[:, :2] / pts[:, 2:3]


def foot_points(boxes: np.ndarray) -> np.ndarray:
    """Bottom-centre ``(u, v)`` of ``xyxy`` boxes: where an object touches the ground."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, boxes[:, 3]])
