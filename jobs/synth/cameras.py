"""Street cameras at the busiest incident hotspots, with pixel-to-ground control points."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from jobs.synth.geometry import camera_view, pixel_to_ground
from jobs.synth.world import World

CAMERA_COLUMNS = ("camera_id", "lon", "lat", "heading_deg", "mount_height_m", "image_width",
                  "image_height", "control_points")
CP_TYPE = pa.list_(pa.struct([("u", pa.float64()), ("v", pa.float64()),
                              ("lon", pa.float64()), ("lat", pa.float64())]))
#: image corners and two interior pixels of a 1920x1080 frame
PIXELS = np.array([[0, 1080], [1920, 1080], [1920, 0], [0, 0], [960, 700], [400, 300]], dtype=float)


def generate_cameras(w: World, rng: np.random.Generator) -> pa.Table:
    """One camera per top hotspot (250 m bins of all incidents), looking along the street grid.

    Chicago's streets run north-south and east-west, so headings are multiples
    of 90 degrees plus a few degrees of mounting error. Each camera is a level
    pinhole at 5-10 m whose image bottom meets the ground 15-25 m ahead and
    top 60-90 m ahead; the six control points are exact ground intersections
    of that camera, so any four determine the homography of the other two.
    """
    n = w.settings.n_cameras
    xy = w.all_incidents_xy
    key = np.floor(xy[:, 0] / 250).astype(np.int64) * 1_000_000 + np.floor(xy[:, 1] / 250).astype(np.int64)
    vals, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    top = np.argsort(-cnt, kind="stable")[:n]
    cx = np.bincount(inv, weights=xy[:, 0])[top] / cnt[top] + rng.normal(0, 15, len(top))
    cy = np.bincount(inv, weights=xy[:, 1])[top] / cnt[top] + rng.normal(0, 15, len(top))
    heading = (rng.integers(0, 4, len(top)) * 90.0 + rng.normal(0, 3, len(top))) % 360.0
    height = rng.uniform(5, 10, len(top))
    near = rng.uniform(15, 25, len(top))
    far = rng.uniform(60, 90, len(top))
    lon, lat = w.frame.to_lonlat(cx, cy)
    cps = []
    for i in range(len(top)):
        pitch, focal = camera_view(height[i], near[i], far[i])
        fwd, right = pixel_to_ground(PIXELS[:, 0], PIXELS[:, 1], height_m=height[i], pitch=pitch, focal=focal)
        h = np.radians(heading[i])
        ex = cx[i] + fwd * np.sin(h) + right * np.cos(h)
        ny = cy[i] + fwd * np.cos(h) - right * np.sin(h)
        plon, plat = w.frame.to_lonlat(ex, ny)
        cps.append([{"u": float(u), "v": float(v), "lon": round(float(a), 7), "lat": round(float(b), 7)}
                    for (u, v), a, b in zip(PIXELS, plon, plat)])
    ids = rng.choice(np.arange(1000, 10000), len(top), replace=False)
    return pa.table({
        "camera_id": pa.array([f"CAM-{x}" for x in ids.tolist()], pa.string()),
        "lon": pa.array(np.round(lon, 6)), "lat": pa.array(np.round(lat, 6)),
        "heading_deg": pa.array(np.round(heading, 1)),
        "mount_height_m": pa.array(np.round(height, 2)),
        "image_width": pa.array(np.full(len(top), 1920, np.int32)),
        "image_height": pa.array(np.full(len(top), 1080, np.int32)),
        "control_points": pa.array(cps, CP_TYPE),
    })
