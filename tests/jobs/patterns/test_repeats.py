"""Tests of repeat locations, victims and offenders."""

from __future__ import annotations

import datetime as dt

import h3
import numpy as np
import pyarrow as pa
import pytest

from jobs.patterns.repeats import repeat_locations, repeat_people, repeats
from jobs.patterns.schemas import REPEATS_SCHEMA

T0 = dt.datetime(2017, 6, 1, tzinfo=dt.timezone.utc)
A = (41.88, -87.63)
B = (41.90, -87.70)


def incidents(rows):
    """rows: (id, day offset, (lat, lon), victims, offenders)."""
    return pa.table({
        "incident_id": [r[0] for r in rows],
        "occurred_at": pa.array([T0 + dt.timedelta(days=r[1]) for r in rows], pa.timestamp("us", tz="UTC")),
        "lon": [r[2][1] for r in rows],
        "lat": [r[2][0] for r in rows],
        "h3": [h3.latlng_to_cell(r[2][0], r[2][1], 12) for r in rows],
        "victim_ids": pa.array([r[3] for r in rows], pa.list_(pa.string())),
        "offender_ids": pa.array([r[4] for r in rows], pa.list_(pa.string())),
    })


ROWS = [
    ("a1", 0, A, ["V1"], None),
    ("a2", 3, A, ["V1", "V1"], ["O1"]),
    ("a3", 10, A, None, ["O1"]),
    ("b1", 5, B, ["V2"], ["O1"]),
    ("b2", 400, B, ["V2"], None),  # outside a 365-day window ending at a3/b1... see tests
]


def test_locations_counts_and_gaps():
    out = repeat_locations(incidents(ROWS), window_days=None).to_pylist()
    by_key = {r["key"]: r for r in out}
    a = by_key[h3.latlng_to_cell(*A, 12)]
    assert a["n_incidents"] == 3 and a["incident_ids"] == ["a1", "a2", "a3"]
    assert a["min_gap_days"] == pytest.approx(3) and a["median_gap_days"] == pytest.approx(5)
    assert a["lat"] == pytest.approx(A[0])
    b = by_key[h3.latlng_to_cell(*B, 12)]
    assert b["n_incidents"] == 2 and b["min_gap_days"] == pytest.approx(395)


def test_window_drops_old_incidents():
    # window of 365 days ending at the latest incident (day 400) keeps days > 35 only
    out = repeat_locations(incidents(ROWS), window_days=365)
    assert out.num_rows == 0
    end = T0 + dt.timedelta(days=20)
    out = repeat_locations(incidents(ROWS), window_days=30, end=end)
    assert out["n_incidents"].to_pylist() == [3]


@pytest.mark.parametrize(
    "column,kind,expected",
    [
        ("victim_ids", "victim", {"V1": (2, 3.0), "V2": (2, 395.0)}),  # V1 twice on a2 counts once
        ("offender_ids", "offender", {"O1": (3, 2.0)}),
    ],
)
def test_people(column, kind, expected):
    out = repeat_people(incidents(ROWS), column, window_days=None).to_pylist()
    assert {r["key"]: (r["n_incidents"], r["min_gap_days"]) for r in out} == expected
    assert all(r["kind"] == kind and r["lon"] is None for r in out)


def test_radius_mode_chains_nearby_points():
    near = (A[0] + 0.0003, A[1])  # ~33 m north: another res-12 cell
    rows = [("x1", 0, A, None, None), ("x2", 1, near, None, None), ("x3", 2, B, None, None)]
    assert repeat_locations(incidents(rows), window_days=None).num_rows == 0
    out = repeat_locations(incidents(rows), radius_m=50, window_days=None).to_pylist()
    assert [(r["key"], r["n_incidents"]) for r in out] == [("L-x1", 2)]


def test_combined_schema_and_min_incidents():
    out = repeats(incidents(ROWS), window_days=None, min_incidents=3)
    assert out.schema == REPEATS_SCHEMA
    assert sorted(zip(out["kind"].to_pylist(), out["n_incidents"].to_pylist())) == [("location", 3), ("offender", 3)]


@pytest.mark.parametrize("kwargs", [{"min_incidents": 1}, {"window_days": 0}, {"radius_m": -1.0}])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        repeat_locations(incidents(ROWS), **kwargs)


def test_people_needs_list_column():
    with pytest.raises(TypeError):
        repeat_people(incidents(ROWS).append_column("names", pa.array(["x"] * len(ROWS))), "names")
