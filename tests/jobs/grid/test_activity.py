"""Tests for jobs.grid.activity: counts per origin, cell and period; no leakage through cell_features."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jobs.grid.activity import activity_counts
from jobs.grid.cell_features import cell_features
from jobs.grid.params import CellFeatureParams

CENTRE = h3.latlng_to_cell(41.85, -87.65, 9)
NEIGHBOUR = sorted(h3.grid_ring(CENTRE, 1))[0]
CELLS = sorted(h3.grid_disk(CENTRE, 1))


def _fine(cell: str) -> str:
    lat, lon = h3.cell_to_latlng(cell)
    return h3.latlng_to_cell(lat, lon, 12)


def _events(rows):
    """rows: (origin, UTC time, res-9 cell)."""
    origin, ts, cells = zip(*rows) if rows else ((), (), ())
    return pa.table({
        "origin": pa.array(list(origin), pa.string()),
        "occurred_at": pa.array(pd.to_datetime(list(ts), utc=True, format="mixed"), pa.timestamp("us", tz="UTC")),
        "h3": pa.array([_fine(c) for c in cells], pa.string()),
    })


# Weeks start Monday: 2024-01-01, -08, -15, -22.
EVENTS = [
    ("cdr_events", "2024-01-02 10:00", CENTRE),
    ("cdr_events", "2024-01-03 11:00", CENTRE),
    ("cdr_events", "2024-01-03 12:00", NEIGHBOUR),
    ("cdr_events", "2024-01-09 12:00", CENTRE),
    ("transactions", "2024-01-10 09:00", NEIGHBOUR),
    ("osint_posts", "2024-01-16 09:00", CENTRE),
    ("incidents", "2024-01-02 10:00", CENTRE),
]


def _as_dict(t: pa.Table) -> dict:
    return {(r["h3"], r["period_start"].date().isoformat()): r["value"] for r in t.to_pylist()}


@pytest.mark.parametrize("name, expected", [
    ("cdr_activity", {(CENTRE, "2024-01-01"): 2.0, (NEIGHBOUR, "2024-01-01"): 1.0, (CENTRE, "2024-01-08"): 1.0}),
    ("transaction_volume", {(NEIGHBOUR, "2024-01-08"): 1.0}),
    ("osint_volume", {(CENTRE, "2024-01-15"): 1.0}),
])
def test_counts_per_origin_cell_and_week(name, expected):
    out = activity_counts(_events(EVENTS), resolution=9, freq="W")
    assert set(out) == {"cdr_activity", "transaction_volume", "osint_volume"}  # no detections: left out
    assert _as_dict(out[name]) == expected
    assert out[name].schema.field("period_start").type == pa.timestamp("us", tz="UTC")


def test_coarser_resolution_and_daily_periods_and_detections():
    rows = EVENTS + [("detections", "2024-01-02 23:59", CENTRE)]
    out = activity_counts(_events(rows), resolution=7, freq="D")
    parent = h3.cell_to_parent(CENTRE, 7)
    assert h3.cell_to_parent(NEIGHBOUR, 7) == parent  # both in one res-7 parent
    assert _as_dict(out["cdr_activity"]) == {(parent, "2024-01-02"): 1.0, (parent, "2024-01-03"): 2.0,
                                             (parent, "2024-01-09"): 1.0}
    assert _as_dict(out["camera_detections"]) == {(parent, "2024-01-02"): 1.0}


def test_errors():
    with pytest.raises(ValueError, match="origin"):
        activity_counts(_events(EVENTS).drop_columns(["origin"]))
    with pytest.raises(ValueError, match="coarser"):
        activity_counts(_events(EVENTS), resolution=13)


def _features(events_rows):
    incidents = pa.table({
        "occurred_at": pa.array(pd.to_datetime(["2024-01-02 10:00", "2024-01-16 10:00"], utc=True),
                                pa.timestamp("us", tz="UTC")),
        "h3": pa.array([_fine(CENTRE), _fine(NEIGHBOUR)]),
    })
    extra = activity_counts(_events(events_rows), resolution=9, freq="W")
    return cell_features(incidents, CELLS, CellFeatureParams(resolution=9, freq="W", windows=(1, 2)),
                         start="2024-01-01", end="2024-01-22", extra_counts=extra).to_pandas()


def test_lagged_features_read_only_earlier_periods():
    f = _features(EVENTS).set_index(["h3", "period_start"])
    week = lambda d: pd.Timestamp(d, tz="UTC")  # noqa: E731
    assert f.loc[(CENTRE, week("2024-01-01")), "cdr_activity_lag_1"] == 0  # its own week is not read
    assert f.loc[(CENTRE, week("2024-01-08")), "cdr_activity_lag_1"] == 2
    assert f.loc[(CENTRE, week("2024-01-15")), "cdr_activity_lag_1"] == 1
    assert f.loc[(CENTRE, week("2024-01-15")), "cdr_activity_roll_2"] == 3
    assert f.loc[(NEIGHBOUR, week("2024-01-15")), "transaction_volume_lag_1"] == 1
    assert f.loc[(CENTRE, week("2024-01-22")), "osint_volume_lag_1"] == 1


@pytest.mark.parametrize("cut", ["2024-01-08", "2024-01-15", "2024-01-22"])
def test_no_leakage_events_at_or_after_period_start(cut):
    """Adding events at/after a period start leaves that period's activity features unchanged."""
    extra = [("cdr_events", cut, CENTRE), ("transactions", cut, CENTRE), ("osint_posts", cut, NEIGHBOUR),
             ("cdr_events", "2024-01-25 10:00", NEIGHBOUR), ("detections", cut, CENTRE)]
    base, more = _features(EVENTS), _features(EVENTS + extra)
    cols = [c for c in base.columns if c.split("_")[0] in ("cdr", "transaction", "osint")]
    assert len(cols) == 6
    at = pd.Timestamp(cut, tz="UTC")
    b = base[base["period_start"] <= at].reset_index(drop=True)
    m = more[more["period_start"] <= at].reset_index(drop=True)
    pd.testing.assert_frame_equal(b[cols], m[cols])
    # and the added events do show up in the next period (the test can fail)
    nxt = at + pd.Timedelta(weeks=1)
    if nxt <= pd.Timestamp("2024-01-22", tz="UTC"):
        row = (more["period_start"] == nxt) & (more["h3"] == CENTRE)
        assert more.loc[row, "cdr_activity_lag_1"].item() == base.loc[row, "cdr_activity_lag_1"].item() + 1
