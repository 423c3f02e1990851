"""Cameras of silver ``cameras`` as the vision assets and checks use them.

Which cameras are calibrated (four or more control points: a ground-plane
homography), where a camera looks (the centre of its control points), the
latest incident in its view, and events without a ground point placed at
their camera's site. :func:`read_cameras` reads the lakehouse (any object
with ``exists`` and ``read``); the other functions take tables.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.schemas import CAMERAS, H3_RESOLUTION

__all__ = ["CAMERA_COLUMNS", "at_camera_sites", "by_latest_incident", "calibrated", "latest_incident_near",
           "read_cameras", "view_centre"]

#: Columns of silver ``cameras`` the vision assets read.
CAMERA_COLUMNS = ["camera_id", "lon", "lat", "heading_deg", "control_points"]


def read_cameras(lakehouse) -> pa.Table:
    """:data:`CAMERA_COLUMNS` of silver ``cameras`` (no rows when the table does not exist)."""
    if not lakehouse.exists("silver", "cameras"):
        return pa.schema([CAMERAS.field(c) for c in CAMERA_COLUMNS]).empty_table()
    return lakehouse.read("silver", "cameras", columns=CAMERA_COLUMNS)


def calibrated(cameras: pa.Table) -> set[str]:
    """Ids of the cameras with at least four control points."""
    ids, cps = cameras["camera_id"].to_pylist(), cameras["control_points"].to_pylist()
    return {c for c, p in zip(ids, cps) if p and len(p) >= 4}


def view_centre(camera: dict) -> tuple[float, float]:
    """``(lon, lat)`` of the centre of a camera's control points: roughly the middle of what it sees."""
    return (float(np.mean([p["lon"] for p in camera["control_points"]])),
            float(np.mean([p["lat"] for p in camera["control_points"]])))


def latest_incident_near(incidents: pa.Table | None, lon: float, lat: float, radius_m: float) -> dt.datetime | None:
    """Time of the latest incident (``occurred_at``, ``lon``, ``lat``) within ``radius_m`` of a point, or None."""
    if incidents is None or incidents.num_rows == 0:
        return None
    x = incidents["lon"].to_numpy(zero_copy_only=False)
    y = incidents["lat"].to_numpy(zero_copy_only=False)
    # equirectangular metres: exact enough within a few hundred metres
    d = np.hypot((x - lon) * 111_320.0 * np.cos(np.radians(lat)), (y - lat) * 110_574.0)
    near = np.flatnonzero(np.nan_to_num(d, nan=np.inf) <= radius_m)
    if not len(near):
        return None
    return pc.max(incidents["occurred_at"].take(pa.array(near))).as_py()


def by_latest_incident(cameras: list[dict], incidents: pa.Table | None,
                       radius_m: float) -> list[tuple[dict, dt.datetime | None]]:
    """Calibrated camera records with the latest incident in their view (:func:`latest_incident_near` of
    :func:`view_centre`), the most recent first; ties, and cameras that saw none, stay in the order given."""
    latest = [(cam, latest_incident_near(incidents, *view_centre(cam), radius_m)) for cam in cameras]
    never = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(latest, key=lambda pair: pair[1] or never, reverse=True)


def at_camera_sites(events: pa.Table, cameras: pa.Table) -> pa.Table:
    """``VIDEO_EVENTS`` rows without a ground point placed at their camera's site (lon, lat and H3 cell)."""
    import h3

    if not events.num_rows:
        return events
    sites = {r["camera_id"]: (r["lon"], r["lat"]) for r in cameras.to_pylist()}
    lon, lat, cells = [], [], []
    for cid, x, y, c in zip(*(events[n].to_pylist() for n in ("camera_id", "lon", "lat", "h3"))):
        if x is None and cid in sites:
            x, y = sites[cid]
            c = h3.latlng_to_cell(y, x, H3_RESOLUTION)
        lon.append(x), lat.append(y), cells.append(c)
    events = events.set_column(events.schema.get_field_index("lon"), "lon", pa.array(lon, pa.float64()))
    events = events.set_column(events.schema.get_field_index("lat"), "lat", pa.array(lat, pa.float64()))
    return events.set_column(events.schema.get_field_index("h3"), "h3", pa.array(cells, pa.string()))
