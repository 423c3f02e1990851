"""Patrol shifts are named by the local days of the plan's week (issue #19: they started the day before)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jobs.grid.patrol import SHIFTS_PER_WEEK, patrol_plan, shift_index

CELLS = ["892664ca933ffff", "892664ca923ffff"]


def _plan(week: str, tz: str) -> pd.DataFrame:
    profile = np.full((2, SHIFTS_PER_WEEK), 1.0 / SHIFTS_PER_WEEK)
    return patrol_plan(CELLS, np.array([1.0, 2.0]), profile, week_start=pd.Timestamp(week, tz="UTC"), capacity=1,
                       timezone=tz).to_pandas()


@pytest.mark.parametrize("week, tz, first, last, first_utc", [
    ("2018-01-01", "America/Chicago", "Mon 1 Jan 06:00–14:00", "Sun 7 Jan 22:00–06:00", "2018-01-01 12:00"),
    ("2018-01-01", "UTC", "Mon 1 Jan 06:00–14:00", "Sun 7 Jan 22:00–06:00", "2018-01-01 06:00"),
    ("2018-01-01", "Asia/Tokyo", "Mon 1 Jan 06:00–14:00", "Sun 7 Jan 22:00–06:00", "2017-12-31 21:00"),
])
def test_shifts_start_on_the_weeks_monday(week, tz, first, last, first_utc):
    plan = _plan(week, tz)
    labels = plan["shift_label"].tolist()
    assert labels[0] == first and labels[-1] == last and len(set(labels)) == SHIFTS_PER_WEEK
    assert plan["shift_start"].iloc[0] == pd.Timestamp(first_utc, tz="UTC")


def test_shift_times_stay_on_the_wall_clock_across_daylight_saving():
    plan = _plan("2018-03-05", "America/Chicago")  # DST begins Sunday 11 March, 02:00
    sunday = plan[plan["shift_label"].str.startswith("Sun 11 Mar")]
    assert sunday["shift_label"].tolist() == ["Sun 11 Mar 06:00–14:00", "Sun 11 Mar 14:00–22:00",
                                              "Sun 11 Mar 22:00–06:00"]
    assert sunday["shift_start"].iloc[0] == pd.Timestamp("2018-03-11 11:00", tz="UTC")  # 06:00 CDT
    # each shift's start falls in that shift by the profile's own indexing
    t_ns = plan["shift_start"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    idx = shift_index(t_ns.astype(np.int64), timezone="America/Chicago")
    assert idx.tolist() == list(range(SHIFTS_PER_WEEK))
