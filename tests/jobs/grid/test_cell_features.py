"""Tests for jobs.grid.cell_features: hand-computed counts, no leakage, the extra-counts hook."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jobs.grid.cell_features import cell_features, feature_columns, period_grid
from jobs.grid.params import CellFeatureParams as P

CENTRE = h3.latlng_to_cell(41.85, -87.65, 9)
RING = sorted(h3.grid_disk(CENTRE, 2))
NEIGHBOUR = sorted(h3.grid_ring(CENTRE, 1))[0]
FAR = sorted(h3.grid_ring(CENTRE, 2))[0]


def _incidents(rows):
    """rows: (timestamp UTC str, cell at res 9, category, location_type)."""
    ts, cells, cats, lts = zip(*rows)
    lat, lon = zip(*(h3.cell_to_latlng(c) for c in cells))
    fine = [h3.latlng_to_cell(a, b, 12) for a, b in zip(lat, lon)]
    return pa.table(
        {
            "occurred_at": pa.array(pd.to_datetime(list(ts), utc=True, format="mixed"), pa.timestamp("us", tz="UTC")),
            "category": pa.array(list(cats)),
            "location_type": pa.array(list(lts)),
            "lon": pa.array(lon),
            "lat": pa.array(lat),
            "h3": pa.array(fine),
        }
    )


# Weeks start Monday: 2024-01-01, -08, -15, -22, -29.
ROWS = [
    ("2024-01-02 10:00", CENTRE, "assault", "street"),
    ("2024-01-03 10:00", CENTRE, "assault", "residence"),
    ("2024-01-09 10:00", NEIGHBOUR, "burglary", "residence"),
    ("2024-01-16 10:00", CENTRE, "burglary", "street"),
    ("2024-01-23 10:00", FAR, "assault", "street"),
    ("2024-01-29 00:00", CENTRE, "assault", "street"),
]


def _frame(table):
    return table.to_pandas().set_index(["period_start", "h3"]).sort_index()


@pytest.fixture(scope="module")
def weekly():
    return _frame(cell_features(_incidents(ROWS), pa.array(RING), P(resolution=9, freq="W", windows=(1, 2, 4))))


@pytest.mark.parametrize(
    "week, cell, column, expected",
    [
        ("2024-01-01", CENTRE, "target", 2),
        ("2024-01-01", CENTRE, "lag_1", 0),  # nothing before the first week
        ("2024-01-08", CENTRE, "lag_1", 2),
        ("2024-01-15", CENTRE, "roll_2", 2),  # weeks of 01-01 (2) and 01-08 (0)
        ("2024-01-15", CENTRE, "ring_lag_1", 1),  # the neighbour's incident of 01-09
        ("2024-01-15", NEIGHBOUR, "ring_roll_2", 3),
        ("2024-01-22", CENTRE, "roll_4", 3),
        ("2024-01-22", CENTRE, "periods_since_last", 1),
        ("2024-01-15", CENTRE, "periods_since_last", 2),
        ("2024-01-22", CENTRE, "cat_assault_roll_4", 2),
        ("2024-01-22", CENTRE, "cat_burglary_roll_4", 1),
        ("2024-01-22", CENTRE, "target_cat_burglary", 0),
        ("2024-01-15", CENTRE, "target_cat_burglary", 1),
        # Near repeat (400 m, 14 days): the 01-02 and 01-03 centre incidents and the
        # 01-09 neighbour incident (~340 m away) fall in [01-01, 01-15).
        ("2024-01-15", CENTRE, "near_repeat", 3),
        ("2024-01-22", CENTRE, "near_repeat", 2),  # 01-09 neighbour, 01-16 centre
        ("2024-01-29", CENTRE, "target", 1),  # Monday 00:00 belongs to its own week
        ("2024-01-22", CENTRE, "week_of_year", 4),
        ("2024-01-22", CENTRE, "month", 1),
    ],
)
def test_hand_computed_features(weekly, week, cell, column, expected):
    row = weekly.loc[(pd.Timestamp(week, tz="UTC"), cell)]
    assert row[column] == pytest.approx(expected)


def test_location_mix_shares_sum_to_one_where_history_exists(weekly):
    shares = weekly[[c for c in weekly.columns if c.startswith("loc_")]]
    total = shares.sum(axis=1)
    has = weekly["ring_roll_4"] > 0
    assert np.allclose(total[has & (weekly.index.get_level_values(0) > pd.Timestamp("2024-01-01", tz="UTC"))], 1.0)


def test_every_cell_every_period_present(weekly):
    assert len(weekly) == len(RING) * 5
    assert weekly["target"].sum() == len(ROWS)


def test_daily_and_shift_grids():
    day = _frame(cell_features(_incidents(ROWS), pa.array(RING), P(freq="D", windows=(1, 7))))
    assert day.loc[(pd.Timestamp("2024-01-04", tz="UTC"), CENTRE), "roll_7"] == 2
    assert "day_of_week" in day.columns
    shift = _frame(cell_features(_incidents(ROWS), pa.array(RING), P(freq="8h", windows=(1,))))
    assert "hour" in shift.columns
    assert shift.loc[(pd.Timestamp("2024-01-02 08:00", tz="UTC"), CENTRE), "target"] == 1


def _perturb_at_or_after(rows, cut):
    """Drop every row at/after ``cut`` and add new ones there (incl. exactly at ``cut``)."""
    kept = [r for r in rows if pd.Timestamp(r[0], tz="UTC") < cut]
    extra = [
        (str(cut.tz_localize(None)), CENTRE, "assault", "street"),
        (str((cut + pd.Timedelta(hours=5)).tz_localize(None)), NEIGHBOUR, "burglary", "residence"),
        (str((cut + pd.Timedelta(days=9)).tz_localize(None)), FAR, "assault", "residence"),
    ]
    return kept + extra


@pytest.mark.parametrize("freq, cut", [("W", "2024-01-15"), ("W", "2024-01-22"), ("D", "2024-01-09"), ("8h", "2024-01-16 08:00")])
def test_no_leakage_features_ignore_rows_at_or_after_period_start(freq, cut):
    cut = pd.Timestamp(cut, tz="UTC")
    params = P(resolution=9, freq=freq, windows=(1, 2, 4), categories=["assault", "burglary"],
               location_types=["street", "residence"])
    kw = dict(start="2024-01-01", end="2024-02-05")
    a = _frame(cell_features(_incidents(ROWS), pa.array(RING), params, **kw))
    b = _frame(cell_features(_incidents(_perturb_at_or_after(ROWS, cut)), pa.array(RING), params, **kw))
    feats = feature_columns(a)
    pa_ = a.loc[cut, feats]
    pb_ = b.loc[cut, feats]
    pd.testing.assert_frame_equal(pa_, pb_)
    # The perturbation is real: targets of that period changed.
    assert not a.loc[cut, "target"].equals(b.loc[cut, "target"])


def test_extra_counts_hook_is_lagged():
    extra = pa.table(
        {
            "h3": pa.array([CENTRE, CENTRE]),
            "period_start": pa.array(pd.to_datetime(["2024-01-08", "2024-01-15"], utc=True), pa.timestamp("us", tz="UTC")),
            "value": pa.array([5.0, 7.0]),
        }
    )
    f = _frame(cell_features(_incidents(ROWS), pa.array(RING), P(windows=(1, 4)), extra_counts={"cdr activity": extra}))
    assert f.loc[(pd.Timestamp("2024-01-08", tz="UTC"), CENTRE), "cdr_activity_lag_1"] == 0
    assert f.loc[(pd.Timestamp("2024-01-15", tz="UTC"), CENTRE), "cdr_activity_lag_1"] == 5
    assert f.loc[(pd.Timestamp("2024-01-22", tz="UTC"), CENTRE), "cdr_activity_roll_4"] == 12
    with pytest.raises(ValueError, match="value"):
        cell_features(_incidents(ROWS), pa.array(RING), extra_counts={"x": extra.drop(["value"])})


@pytest.mark.parametrize(
    "params, kwargs, exc",
    [
        (dict(freq="M"), {}, ValueError),
        (dict(resolution=8), {}, ValueError),
        (dict(windows=(0,)), {}, ValueError),
        (dict(k_ring=-1), {}, ValueError),
        ({}, dict(start="2024-02-01", end="2024-01-01"), ValueError),
    ],
)
def test_bad_arguments(params, kwargs, exc):
    with pytest.raises(exc):
        cell_features(_incidents(ROWS), pa.array(RING), P(**params), **kwargs)


def test_period_grid_weeks_start_monday():
    g = period_grid("W")
    p = g.index_of(np.array([pd.Timestamp("2024-01-07 23:59", tz="UTC").value, pd.Timestamp("2024-01-08", tz="UTC").value]))
    assert p[1] - p[0] == 1
    assert pd.Timestamp(int(g.start_ns(p[1])), tz="UTC") == pd.Timestamp("2024-01-08", tz="UTC")
