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


def test_profile_cycles_and_bad_ones():
    week = pd.Timestamp("2024-01-08", tz="UTC")
    past = [week - pd.Timedelta(days=d) + pd.Timedelta(hours=7) for d in range(1, 60)]  # every day 07:00
    ev = _events([CELLS[0]] * len(past), past)
    day = shift_profile(ev, pa.array(CELLS), before=week, prior_strength=2.0, cycle=3)
    np.testing.assert_allclose(day.sum(axis=1), 1.0)
    np.testing.assert_allclose(day[0, 0::3], day[0, 0])  # the same first shift on every day of the week
    assert day[0, 0] > 6 * day[0, 1]
    np.testing.assert_allclose(shift_profile(ev, pa.array(CELLS), before=week, cycle=None), 1 / SHIFTS_PER_WEEK)
    with pytest.raises(ValueError, match="cycle must be"):
        shift_profile(ev, pa.array(CELLS), before=week, cycle=7)
    with pytest.raises(ValueError, match="prior_strength"):
        shift_profile(ev, pa.array(CELLS), before=week, prior_strength=0.0)


def _timed_world(seed, weeks=70, switch=None):
    """61 cells, each its own weekly rate; half busy 06-14 and the rest 22-06, the other way round from week
    ``switch`` on."""
    rng = np.random.default_rng(seed)
    cells = sorted(h3.grid_disk(CENTRE, 4))
    rate = rng.gamma(2.0, 1.0, len(cells))
    start = pd.Timestamp("2024-01-08", tz="UTC") - pd.Timedelta(weeks=weeks)
    hs, ts = [], []
    for w in range(weeks):
        for ci in np.repeat(np.arange(len(cells)), rng.poisson(rate)):
            day = int(rng.integers(0, 7))
            morning = bool(ci % 2) != (switch is not None and w >= switch)
            hour = (6 if morning else 22) + rng.uniform(0, 8)
            hs.append(cells[ci])
            ts.append(start + pd.Timedelta(days=7 * w + day, hours=float(hour)))
    return cells, _events(hs, ts)


def test_the_profile_is_chosen_on_the_weeks_before_and_none_when_time_tells_nothing():
    from jobs.grid.patrol import choose_shift_profile, describe_profile

    week = pd.Timestamp("2024-01-08", tz="UTC")
    cells, ev = _timed_world(0)
    choice, table = choose_shift_profile(ev, pa.array(cells), before=week, coverage=0.1)
    assert choice is not None and choice["cycle"] in (3, 21)
    assert len(table) == 11 and table["hit_rate"].max() > table.loc[table["cycle"] == 0, "hit_rate"].iloc[0]
    assert "hit rate" in describe_profile(choice, table)
    # incidents after the plan's start change nothing
    later = _events([cells[0]] * 30, [week + pd.Timedelta(hours=h) for h in range(30)])
    again, table2 = choose_shift_profile(pa.concat_tables([ev, later]), pa.array(cells), before=week, coverage=0.1)
    assert again == choice and table2.equals(table)

    # the cells swapped their hours 13 weeks ago: last year's profiles would put every patrol at the wrong time
    cells, swapped = _timed_world(1, switch=57)
    none, table = choose_shift_profile(swapped, pa.array(cells), before=week, coverage=0.1)
    assert none is None and describe_profile(none, table).startswith("no time profile")
    flat = swapped
    with pytest.raises(ValueError, match="coverage"):
        choose_shift_profile(flat, pa.array(cells), before=week, coverage=0.0)
