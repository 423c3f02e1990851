"""Video event kernels on tiny hand-made detection tables."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from vision.events import class_counts, crowd_surges, loitering
from vision.schemas import DETECTIONS, VIDEO_EVENTS

T0 = datetime(2024, 5, 1, 22, 0, tzinfo=timezone.utc)


def _dets(rows):
    """rows: (seconds, frame, track, class, lon, lat)"""
    cols = {f.name: [] for f in DETECTIONS}
    for s, f, tid, cls, lon, lat in rows:
        for k, v in dict(camera_id="cam", source="clip", frame_time=T0 + timedelta(seconds=s), frame_index=f,
                         track_id=tid, class_id=0, class_name=cls, confidence=0.9, x1=10.0, y1=10.0, x2=20.0,
                         y2=40.0, lon=lon, lat=lat, geometry=None, h3=None).items():
            cols[k].append(v)
    return pa.Table.from_pydict(cols, schema=DETECTIONS)


def test_class_counts_per_minute_count_distinct_tracks():
    rows = [(s, s, 1, "person", 0, 0) for s in range(0, 30)] + [(s, s, 2, "person", 0, 0) for s in range(10, 70)]
    rows += [(5, 5, 3, "vehicle", 0, 0), (65, 65, None, "vehicle", 0, 0)]
    out = class_counts(_dets(rows)).to_pylist()
    got = {(r["class_name"], r["window_start"].minute): r["value"] for r in out}
    assert got == {("person", 0): 2.0, ("person", 1): 1.0, ("vehicle", 0): 1.0, ("vehicle", 1): 1.0}


ZONE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


@pytest.mark.parametrize(
    "rows, expect",
    [
        # 90 s inside the zone -> one stay of 90 s
        ([(s, s, 7, "person", 0.5, 0.5) for s in range(0, 91, 5)], [90.0]),
        # same track outside the zone -> nothing
        ([(s, s, 7, "person", 2.0, 0.5) for s in range(0, 91, 5)], []),
        # two 40 s stays split by a 30 s gap -> neither reaches 60 s
        ([(s, s, 7, "person", 0.5, 0.5) for s in list(range(0, 41, 5)) + list(range(70, 111, 5))], []),
        # a vehicle parked in the zone is not loitering (class filter)
        ([(s, s, 8, "vehicle", 0.5, 0.5) for s in range(0, 91, 5)], []),
    ],
)
def test_loitering_table(rows, expect):
    out = loitering(_dets(rows), zone=ZONE, min_dwell_s=60, max_gap_s=10)
    assert out.schema == VIDEO_EVENTS
    assert out.column("value").to_pylist() == expect


def test_loitering_refuses_a_zone_without_area():
    with pytest.raises(ValueError, match="polygon"):
        loitering(_dets([]), zone=[(0, 0), (1, 1), (2, 2)])


def test_crowd_surge_against_rolling_median():
    rows = []
    f = 0
    for w in range(10):  # 10 windows of 10 s; 1 person each, then 6 in window 8
        n = 6 if w == 8 else 1
        for k in range(n):
            rows.append((w * 10 + 1, f, k + 1, "person", 0, 0))
        f += 1
    out = crowd_surges(_dets(rows), window_s=10, baseline_windows=6, factor=2.0, min_size=5).to_pylist()
    assert len(out) == 1
    assert out[0]["value"] == 6.0 and out[0]["baseline"] == 1.0
    assert out[0]["window_start"] == T0 + timedelta(seconds=80)


def test_kernels_reject_wrong_input():
    with pytest.raises(TypeError):
        class_counts({"a": [1]})
    with pytest.raises(ValueError, match="lack column"):
        class_counts(pa.table({"camera_id": ["x"]}))
