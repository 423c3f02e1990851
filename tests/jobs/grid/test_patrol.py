"""Shift indexing, shift profiles (no look-ahead, shrinkage) and the patrol plan (capacity, order)."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jobs.grid.patrol import SHIFTS_PER_WEEK, patrol_plan, shift_index, shift_profile

CENTRE = h3.latlng_to_cell(41.85, -87.65, 9)
CELLS = sorted(h3.grid_disk(CENTRE, 1))  # 7 cells


def _events(cells, times):
    return pa.table({
        "occurred_at": pa.array(pd.DatetimeIndex(times, tz="UTC").floor("us"), pa.timestamp("us", tz="UTC")),
        "h3": [h3.cell_to_children(c, 12)[0] for c in cells],
    })


@pytest.mark.parametrize(
    "utc, tz, first, expected",
    [
        ("2024-01-01 06:00", "UTC", 6, 0),       # Monday 06:00: Monday's first shift
        ("2024-01-01 05:59", "UTC", 6, 20),      # Monday before 06:00: Sunday's night shift
        ("2024-01-01 14:00", "UTC", 6, 1),
        ("2024-01-01 22:30", "UTC", 6, 2),
        ("2024-01-02 12:00", "America/Chicago", 6, 3),  # 06:00 Chicago (CST, UTC-6): Tuesday first shift
        ("2024-01-07 23:00", "UTC", 0, 20),      # Sunday 16-24 with shifts from midnight
    ],
)
def test_shift_index(utc, tz, first, expected):
    t = np.array([pd.Timestamp(utc, tz="UTC").value])
    assert shift_index(t, timezone=tz, first_shift_hour=first)[0] == expected


def test_profile_reads_only_the_past_and_shrinks_to_the_city():
    week = pd.Timestamp("2024-01-08", tz="UTC")
    past = [week - pd.Timedelta(days=7 * k) + pd.Timedelta(hours=7) for k in range(1, 11)]  # Mondays 07:00
    ev = _events([CELLS[0]] * 10, past)
    prof = shift_profile(ev, pa.array(CELLS), before=week, prior_strength=2.0)
    assert prof.shape == (7, SHIFTS_PER_WEEK)
    np.testing.assert_allclose(prof.sum(axis=1), 1.0)
    assert prof[0].argmax() == 0 and prof[0, 0] > 0.7
    np.testing.assert_allclose(prof[1], prof[2])  # cells without history get the city profile
    future = _events([CELLS[0]] * 50, [week + pd.Timedelta(hours=15)] * 50)
    again = shift_profile(pa.concat_tables([ev, future]), pa.array(CELLS), before=week, prior_strength=2.0)
    np.testing.assert_allclose(again, prof)


def test_plan_takes_capacity_cells_per_shift_in_order():
    expected = np.array([5.0, 1.0, 3.0, 0.0, 2.0, 4.0, 0.5])
    profile = np.full((7, SHIFTS_PER_WEEK), 1.0 / SHIFTS_PER_WEEK)
    profile[1] = 0.0
    profile[1, 0] = 1.0  # cell 1's crime all falls in Monday's first shift
    plan = patrol_plan(CELLS, expected, profile, week_start="2024-01-08", capacity=2).to_pandas()
    assert len(plan) == 2 * SHIFTS_PER_WEEK
    first = plan[plan["shift_label"] == plan["shift_label"].iloc[0]]
    assert first["h3"].tolist() == [CELLS[1], CELLS[0]]  # 1.0 vs 5/21
    assert all(g.tolist() == [1, 2] for _, g in plan.groupby("shift_label")["rank"])
    later = plan[plan["shift_label"] == plan["shift_label"].iloc[-1]]
    assert later["h3"].tolist() == [CELLS[0], CELLS[5]]
    assert plan["shift_start"].iloc[0] == pd.Timestamp("2024-01-08 06:00", tz="UTC")
    assert (plan["share_of_shift"] <= 1).all()


@pytest.mark.parametrize("capacity", [0, -1, 2.5])
def test_plan_rejects_bad_capacity(capacity):
    with pytest.raises(ValueError, match="capacity"):
        patrol_plan(CELLS, np.ones(7), np.full((7, 21), 1 / 21), week_start="2024-01-08", capacity=capacity)
