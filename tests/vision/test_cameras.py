"""Cameras as the vision assets use them: calibration, the incident in view, events at the camera's site."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from jobs.schemas import CAMERAS
from vision.cameras import CAMERA_COLUMNS, at_camera_sites, by_latest_incident, calibrated, read_cameras, view_centre
from vision.schemas import VIDEO_EVENTS

UTC = dt.timezone.utc


def _cam(cid, lon, lat, n_points):
    return {"camera_id": cid, "lon": lon, "lat": lat, "heading_deg": 0.0,
            "control_points": [{"u": 0.0, "v": 0.0, "lon": lon + 0.001 * i, "lat": lat} for i in range(n_points)]}


CAMS = [_cam("a", -87.60, 41.80, 4), _cam("b", -87.70, 41.90, 6), _cam("c", -87.65, 41.85, 3)]


class _Lake:
    def __init__(self, tables):
        self.tables = tables

    def exists(self, layer, name):
        return (layer, name) in self.tables

    def read(self, layer, name, columns=None):
        return self.tables[(layer, name)].select(columns)


def test_calibrated_and_read():
    table = pa.Table.from_pylist(CAMS, schema=pa.schema([CAMERAS.field(c) for c in CAMERA_COLUMNS]))
    assert calibrated(table) == {"a", "b"}
    assert read_cameras(_Lake({("silver", "cameras"): table})).num_rows == 3
    assert read_cameras(_Lake({})).num_rows == 0


@pytest.mark.parametrize(
    ("seen_by", "order"),
    [
        ("b", ["b", "a"]),  # b saw the incident: first
        ("a", ["a", "b"]),
        (None, ["a", "b"]),  # none saw it: the order given stays
    ],
)
def test_by_latest_incident(seen_by, order):
    lon, lat = view_centre(next(c for c in CAMS if c["camera_id"] == seen_by)) if seen_by else (-80.0, 40.0)
    incidents = pa.table({"occurred_at": pa.array([dt.datetime(2024, 5, 1, 22, tzinfo=UTC)]),
                          "lon": [lon + 0.0001], "lat": [lat]})  # about 8 m from the centre of the view
    ranked = by_latest_incident(CAMS[:2], incidents, 50.0)
    assert [c["camera_id"] for c, _ in ranked] == order
    assert [c["camera_id"] for c, t in ranked if t is not None] == ([seen_by] if seen_by else [])


def test_events_without_a_ground_point_get_their_camera_site():
    row = {f.name: None for f in VIDEO_EVENTS}
    events = pa.Table.from_pylist([{**row, "camera_id": "a"}, {**row, "camera_id": "zz"},
                                   {**row, "camera_id": "a", "lon": 1.0, "lat": 2.0, "h3": "x"}], schema=VIDEO_EVENTS)
    cams = pa.table({"camera_id": ["a"], "lon": [-87.6], "lat": [41.8]})
    out = at_camera_sites(events, cams)
    assert out["lon"].to_pylist() == [-87.6, None, 1.0] and out["h3"][0].as_py() is not None
    assert out["h3"].to_pylist()[1:] == [None, "x"]
    assert at_camera_sites(events.slice(0, 0), cams).num_rows == 0
