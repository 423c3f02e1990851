"""``detections_valid`` fails on the rows it is meant to catch, and only on those."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from jobs.schemas import CAMERAS
from orchestration.resources.lakehouse import LocalLakehouse
from orchestration.vision.checks import detections_valid
from vision.schemas import DETECTIONS

T0 = dt.datetime(2024, 5, 1, 22, tzinfo=dt.timezone.utc)
CP = [{"u": u, "v": v, "lon": -87.6 + u * 1e-6, "lat": 41.8 + (360 - v) * 1e-6}
      for u, v in ((0, 360), (640, 360), (640, 100), (0, 100))]
GOOD = {"camera_id": "CAL", "confidence": 0.9, "class_name": "person", "lon": -87.6, "lat": 41.8, "h3": "8c2664c1a"}


def _row(**kw) -> dict:
    base = {"source": "clip.mp4", "frame_time": T0, "frame_index": 0, "track_id": 1, "class_id": 0,
            "x1": 0.0, "y1": 0.0, "x2": 10.0, "y2": 10.0, "geometry": None}
    return {**base, **GOOD, **kw}


@pytest.mark.parametrize("rows, passed, field", [
    ([_row()], True, None),
    ([_row(), _row(camera_id="UNCAL", lon=None, lat=None, h3=None)], True, None),  # uncalibrated: no ground point
    ([_row(camera_id="NEW", lon=None, lat=None, h3=None)], True, None),  # unknown camera (quarantined)
    ([_row(confidence=1.5)], False, "confidence_outside_0_1"),
    ([_row(confidence=-0.1)], False, "confidence_outside_0_1"),
    ([_row(confidence=float("nan"))], False, "confidence_outside_0_1"),
    ([_row(lon=None, lat=None, h3=None)], False, "calibrated_without_lonlat_h3"),  # above the horizon
    ([_row(h3=None)], False, "calibrated_without_lonlat_h3"),
])
def test_detections_valid(tmp_path, rows, passed, field):
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    cams = pa.Table.from_pylist(
        [{"camera_id": "CAL", "lon": -87.6, "lat": 41.8, "heading_deg": 0.0, "control_points": CP},
         {"camera_id": "UNCAL", "lon": -87.6, "lat": 41.8, "heading_deg": 0.0, "control_points": CP[:2]}],
        schema=pa.schema([CAMERAS.field(c) for c in ("camera_id", "lon", "lat", "heading_deg", "control_points")]))
    lake.overwrite("silver", "cameras", cams)
    lake.overwrite("silver", "detections", pa.Table.from_pylist(rows, schema=DETECTIONS))
    result = detections_valid(lakehouse=lake)
    assert result.passed is passed
    if field:
        assert result.metadata[field].value == 1
