"""Patrol exposure on hand-made districts, plans and incidents: shares, ratios, Gini, per capita, areal weighting."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely

from jobs.accountability.exposure import ExposureParams, areal_population, cell_areas, gini, patrol_exposure
from jobs.grid.cells import study_area_cells
from jobs.grid.patrol import patrol_plan, shift_profile

WEEK = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday
LAT0, LAT1 = 41.80, 41.85
EDGES = {"A": (-87.70, -87.65), "B": (-87.65, -87.60), "C": (-87.60, -87.55)}
DISTRICTS = pa.table({
    "area_id": list(EDGES), "name": [f"District {a}" for a in EDGES],
    "geometry": [shapely.to_wkb(shapely.box(x0, LAT0, x1, LAT1)) for x0, x1 in EDGES.values()]})


def cell(area: str, dx: float = 0.0, res: int = 9) -> str:
    """A cell well inside district ``area`` (``dx``: offset from its middle, degrees of longitude)."""
    x0, x1 = EDGES[area]
    return h3.latlng_to_cell((LAT0 + LAT1) / 2, (x0 + x1) / 2 + dx, res)


def plan(rows: list[tuple[int, str]]) -> pa.Table:
    """Plan rows ``(shift of the week, cell)``; shifts start at 06:00 UTC."""
    starts = [WEEK + pd.Timedelta(hours=6 + 8 * s) for s, _ in rows]
    return pa.table({"h3": [c for _, c in rows], "shift_label": [f"shift {s}" for s, _ in rows],
                     "shift_start": pa.array(starts, pa.timestamp("us", tz="UTC"))})


def incidents(rows: list[tuple[str, str]]) -> pa.Table:
    """Incidents ``(UTC time, resolution-12 cell)``."""
    return pa.table({"occurred_at": pa.array([pd.Timestamp(t, tz="UTC") for t, _ in rows],
                                             pa.timestamp("us", tz="UTC")),
                     "h3": [c for _, c in rows]})


PLAN = plan([(0, cell("A")), (0, cell("A", 0.01)), (0, cell("B")), (1, cell("A")), (1, cell("C")),
             (1, cell("C", 0.01))])
INCIDENTS = incidents([
    ("2023-12-25 07:00", cell("A", res=12)), ("2023-12-18 08:00", cell("A", 0.01, res=12)),  # shift 0 (Mon 06-14)
    ("2023-12-25 09:00", cell("B", res=12)), ("2023-12-11 10:00", cell("B", res=12)),
    ("2024-01-01 07:00", cell("C", res=12)),  # in the week itself: not known to the plan
    ("2022-06-01 07:00", cell("C", res=12)),  # before the window
])


def rows_of(table: pa.Table, scope: str, shift=None) -> pd.DataFrame:
    df = table.to_pandas()
    df = df[df["scope"] == scope]
    return (df if shift is None else df[df["shift"] == shift]).set_index("area_id")


def test_week_and_shift_shares_ratios_and_a_district_without_crime():
    out = patrol_exposure(PLAN, INCIDENTS, DISTRICTS, week_start=WEEK)
    week = rows_of(out, "week")
    assert week["patrol_cell_shifts"].tolist() == [3, 1, 2]
    assert week["crimes"].tolist() == [2, 2, 0]  # the week's own incident and the old one are not counted
    assert np.allclose(week["patrol_share"], [0.5, 1 / 6, 1 / 3])
    assert np.allclose(week["crime_share"], [0.5, 0.5, 0.0])
    assert np.allclose(week.loc[["A", "B"], "exposure_ratio"], [1.0, 1 / 3])
    assert pd.isna(week.loc["C", "exposure_ratio"])  # no recorded crime: no ratio, not infinity
    assert week["shift_label"].eq("whole week").all() and week["shift"].isna().all()
    s0, s1 = rows_of(out, "shift", 0), rows_of(out, "shift", 1)
    assert s0["patrol_cell_shifts"].tolist() == [2, 1, 0] and s0["crimes"].tolist() == [2, 2, 0]
    assert s0["shift_label"].eq("shift 0").all()
    assert s1["crimes"].sum() == 0 and s1["crime_share"].isna().all()  # no crime in that shift: shares undefined
    assert np.allclose(s1["patrol_share"], [1 / 3, 0, 2 / 3])
    assert set(out.column("scope").to_pylist()) == {"week", "shift"} and out.num_rows == 3 * 3
    assert week["population"].isna().all() and week["patrol_per_1k"].isna().all()


def test_shares_sum_to_one_for_a_real_plan_over_every_scope():
    cells = study_area_cells(DISTRICTS.column("geometry"), resolution=9)
    rng = np.random.default_rng(0)
    times = (WEEK - pd.to_timedelta(rng.uniform(1, 300, 400), unit="D")).floor("us")
    h12 = [h3.cell_to_center_child(c, 12) for c in rng.choice(cells.column("h3").to_pylist(), 400)]
    inc = pa.table({"occurred_at": pa.array(times, pa.timestamp("us", tz="UTC")), "h3": h12})
    prof = shift_profile(inc, cells, before=WEEK, timezone="America/Chicago")
    expected = rng.gamma(1.0, 1.0, cells.num_rows)
    p = patrol_plan(cells.column("h3"), expected, prof, week_start=WEEK, capacity=5, timezone="America/Chicago")
    out = patrol_exposure(p, inc, DISTRICTS, week_start=WEEK, timezone="America/Chicago").to_pandas()
    assert len(out) == 3 * 22  # the week and its 21 shifts, per district
    sums = out.groupby(["scope", "shift"], dropna=False)[["patrol_share", "crime_share"]].sum()
    assert np.allclose(sums["patrol_share"], 1.0)
    assert np.allclose(sums["crime_share"], 1.0)
    week = out[out["scope"] == "week"]
    assert week["patrol_cell_shifts"].sum() == 21 * 5 and week["crimes"].sum() == 400


@pytest.mark.parametrize("values, weights, expected", [
    ([2, 2, 2, 2], None, 0.0),         # equal exposure
    ([0, 0, 0, 4], None, 0.75),        # one of four holds everything: (n-1)/n
    ([1, 2, 3, 4], None, 0.25),        # sum |xi-xj| = 20 over 2 n^2 mean = 80
    ([1, 2], [2, 2], gini([1, 1, 2, 2])),  # a weight is a repeated unit
    ([5, 1, 9], [0, 1, 1], gini([1, 9])),  # a unit of no weight does not count
])
def test_gini(values, weights, expected):
    assert gini(np.array(values, float), None if weights is None else np.array(weights, float)) == \
        pytest.approx(expected)


def test_gini_undefined_and_bad_input():
    assert np.isnan(gini(np.zeros(3))) and np.isnan(gini(np.array([])))
    with pytest.raises(ValueError, match="non-negative"):
        gini(np.array([1.0, -1.0]))


def test_gini_of_equal_and_planted_plans():
    equal = patrol_exposure(plan([(0, cell("A")), (0, cell("B")), (0, cell("C"))]), INCIDENTS, DISTRICTS,
                            week_start=WEEK)
    assert rows_of(equal, "week")["gini"].tolist() == [0.0] * 3
    planted = patrol_exposure(plan([(0, cell("A")), (0, cell("A", 0.01)), (1, cell("A"))]), INCIDENTS, DISTRICTS,
                              week_start=WEEK)
    assert rows_of(planted, "week")["gini"].iloc[0] == pytest.approx(2 / 3)  # one district of three has all


def test_per_capita():
    out = patrol_exposure(PLAN, INCIDENTS, DISTRICTS, week_start=WEEK,
                          population={"A": 3000.0, "B": 1000.0, "C": 2000.0})
    week = rows_of(out, "week")
    assert np.allclose(week["patrol_per_1k"], [1.0, 1.0, 1.0])  # 3, 1, 2 cell-shifts per 3k, 1k, 2k residents
    assert np.allclose(week["per_capita_ratio"], 1.0)
    assert week["gini_per_capita"].iloc[0] == pytest.approx(0.0)
    assert week["gini"].iloc[0] > 0.1  # the unweighted Gini sees the districts' different sizes
    s1 = rows_of(out, "shift", 1)  # shift 1: A 1, B 0, C 2 cell-shifts
    assert np.allclose(s1["patrol_per_1k"], [1 / 3, 0.0, 1.0])
    partial = rows_of(patrol_exposure(PLAN, INCIDENTS, DISTRICTS, week_start=WEEK, population={"A": 3000.0}),
                      "week")
    assert pd.isna(partial.loc["B", "patrol_per_1k"]) and partial.loc["A", "patrol_per_1k"] == pytest.approx(1.0)


def test_cell_areas_centroid_then_nearest():
    outside = h3.latlng_to_cell(LAT1 + 0.01, -87.56, 9)  # north of C, in no district
    got = cell_areas([cell("B"), cell("A"), outside, cell("A")], DISTRICTS)
    assert got.tolist() == ["B", "A", "C", "A"]
    with pytest.raises(ValueError, match="not an H3 cell"):
        cell_areas(["nonsense"], DISTRICTS)


def test_areal_population_splits_by_overlap():
    straddle = shapely.box(-87.675, LAT0, -87.625, LAT1)  # half in A, half in B
    inside_c = shapely.box(-87.59, 41.81, -87.57, 41.83)
    pop = areal_population(DISTRICTS, [shapely.to_wkb(straddle), shapely.to_wkb(inside_c)],
                           np.array([1000.0, 400.0]))
    assert pop == pytest.approx([500.0, 500.0, 400.0], rel=0.01)
    with pytest.raises(ValueError, match="finite"):
        areal_population(DISTRICTS, [shapely.to_wkb(inside_c)], np.array([-1.0]))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="lacks columns"):
        patrol_exposure(PLAN.drop_columns(["shift_start"]), INCIDENTS, DISTRICTS, week_start=WEEK)
    with pytest.raises(ValueError, match="no rows"):
        patrol_exposure(PLAN.slice(0, 0), INCIDENTS, DISTRICTS, week_start=WEEK)
    with pytest.raises(ValueError, match="crime_window_days"):
        ExposureParams(crime_window_days=0)
