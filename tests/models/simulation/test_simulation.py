"""The feedback-loop simulator on tiny planted worlds: accounting, reproducibility, and the direction of the loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.simulation import (
    POLICIES, STRATEGIES, SimulationParams, World, district_codes, run_seeds, runaway_index, simulate, summarise,
)
from models.simulation.forecasters import SeppTracker, WindowCounts

N_CELLS = 30


def planted_world(history_cells=(), history_per_cell: int = 0, mu=None, theta: float = 0.0) -> World:
    """30 cells in 3 districts of 10 (cells 0-9: "a", 10-19: "b", 20-29: "c") with planted daily rates."""
    mu = np.linspace(0.05, 0.5, N_CELLS) if mu is None else np.asarray(mu, dtype=np.float64)
    cells = np.repeat(np.asarray(history_cells, dtype=np.int64), history_per_cell)
    ages = np.tile(np.linspace(1.0, 300.0, history_per_cell), len(history_cells)) if len(cells) else np.zeros(0)
    grid = np.stack(np.meshgrid(np.arange(6), np.arange(5)), -1).reshape(-1, 2) * 300.0  # 300 m apart
    return World(mu=mu, theta=theta, omega=0.5, excitation=np.zeros(N_CELLS), history_cell=cells,
                 history_age_days=ages, district=np.repeat(np.arange(3), 10), district_names=("a", "b", "c"),
                 xy=grid.astype(np.float64))


# -- accounting --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy, plans", [(p, POLICIES) for p in POLICIES] + [(s, STRATEGIES) for s in STRATEGIES])
def test_discovered_never_exceeds_true_and_capacity_is_spent(policy, plans):
    params = SimulationParams(capacity=4, deterrence=0.2)
    r = simulate(planted_world(history_cells=[0, 5, 12], history_per_cell=3), policy, 6, seed=3, params=params,
                 plans=plans)
    t = r.table
    assert len(t) == 6 * 3 and set(t["district"]) == {"a", "b", "c"}
    assert (t["discovered"] <= t["true_crime"]).all() and (t["discovered"] >= 0).all()
    assert t.groupby("week")["patrol_cells"].sum().to_numpy() == pytest.approx(np.full(6, 4.0))
    assert (t["prevented"] >= 0).all() and (t["prevented"] <= t["expected_crime"] * 0.2 + 1e-12).all()
    assert 0.0 <= r.runaway_index <= 1.0 and len(r.runaway) == 6


def test_uniform_spreads_capacity_by_cell_count_and_random_whole_cells():
    params = SimulationParams(capacity=6)
    uniform = simulate(planted_world(), "uniform", 3, seed=0, params=params).table
    assert uniform["patrol_cells"].to_numpy() == pytest.approx(np.full(9, 2.0))  # 10 of 30 cells per district
    rand = simulate(planted_world(), "random", 20, seed=0, params=params).table
    assert set(np.round(rand["patrol_cells"], 9)) <= set(range(7))  # whole cells
    assert rand.groupby("district")["patrol_cells"].sum().gt(0).all()  # over 20 weeks every district is visited


def test_same_seed_same_table_other_seed_other_draws():
    w, params = planted_world(history_cells=[3], history_per_cell=5), SimulationParams(capacity=3)
    a, b = simulate(w, "naive", 8, seed=11, params=params), simulate(w, "naive", 8, seed=11, params=params)
    pd.testing.assert_frame_equal(a.table, b.table)
    np.testing.assert_array_equal(a.runaway, b.runaway)
    c = simulate(w, "naive", 8, seed=12, params=params)
    assert not a.table["true_crime"].equals(c.table["true_crime"])


def test_deterrence_prevents_crime_only_where_patrols_are():
    mu = np.full(N_CELLS, 0.2)
    world = planted_world(mu=mu, history_cells=[0, 1], history_per_cell=10)
    params = SimulationParams(capacity=2, deterrence=0.5)
    t = simulate(world, "naive", 4, seed=1, params=params).table
    # the forecast patrols cells 0 and 1 (district "a"): half of their expected 7 x 0.2 a week is prevented
    assert t.loc[t["district"] == "a", "prevented"].to_numpy() == pytest.approx(np.full(4, 2 * 0.5 * 7 * 0.2))
    assert (t.loc[t["district"] != "a", "prevented"] == 0).all()


# -- the loop's direction ----------------------------------------------------------------------------------

def locked_in_case() -> tuple[World, SimulationParams]:
    """The true hot cells (0-4, district "a") have no recorded past; cold cells 20-24 (district "c") have a stale
    recorded history, so patrols start there, and police discover 9 crimes in 10 where they are, 1 elsewhere."""
    mu = np.full(N_CELLS, 0.02)
    mu[:5] = 1.0
    mu[20:25] = 0.3
    world = planted_world(mu=mu, history_cells=range(20, 25), history_per_cell=40)
    return world, SimulationParams(capacity=5, base_discovery=0.1, patrolled_discovery=0.9, deterrence=0.0,
                                   forecast_half_life_weeks=8.0)


def test_corrected_weighting_recovers_the_true_ranking_that_naive_loses():
    world, params = locked_in_case()
    true_top = set(range(5))
    hits = {}
    for policy in ("naive", "corrected"):
        runs = [simulate(world, policy, 30, seed=s, params=params) for s in range(5)]
        hits[policy] = [len(true_top & set(np.argsort(-r.final_scores)[:5])) for r in runs]
        rho = [pd.Series(r.final_scores).corr(pd.Series(world.mu), method="spearman") for r in runs]
        hits[policy + "_rho"] = float(np.mean(rho))
    # true hot cells among the forecast's top 5 at the end, per seed
    assert all(c > n for c, n in zip(hits["corrected"], hits["naive"]))
    assert np.mean(hits["corrected"]) >= 4.5 and np.mean(hits["naive"]) <= 1.0
    assert hits["corrected_rho"] > hits["naive_rho"]


def test_naive_runs_away_from_the_true_districts_and_corrected_does_not():
    world, params = locked_in_case()
    naive = [simulate(world, "naive", 30, seed=s, params=params).runaway_index for s in range(3)]
    corrected = [simulate(world, "corrected", 30, seed=s, params=params).runaway_index for s in range(3)]
    assert min(naive) > max(corrected)


# -- runaway index -----------------------------------------------------------------------------------------

RUNAWAY_CASES = [
    ([2, 1, 1], [20, 10, 10], 0.0),  # allocation proportional to truth
    ([1, 0, 0], [0, 1, 1], 1.0),  # patrols only where there is no crime
    ([1, 1, 0], [1, 0, 1], 0.5),
    ([3, 1], [1, 1], 0.25),
]


@pytest.mark.parametrize("allocation, truth, expected", RUNAWAY_CASES)
def test_runaway_index_is_total_variation(allocation, truth, expected):
    assert runaway_index(np.array(allocation), np.array(truth)) == pytest.approx(expected)


@pytest.mark.parametrize("allocation, truth", [([0, 0], [1, 1]), ([1, -1], [1, 1]), ([1, 1], [1, 1, 1])])
def test_runaway_index_refuses_what_is_not_two_distributions(allocation, truth):
    with pytest.raises(ValueError):
        runaway_index(np.array(allocation), np.array(truth))


# -- parts -------------------------------------------------------------------------------------------------

def test_window_counts_forget_what_left_the_window():
    world = planted_world(history_cells=[7], history_per_cell=10)  # ages 1..300 days: 2 of them in the last 2 weeks
    tracker = WindowCounts(world, 1.0, window_weeks=2)
    assert tracker.scores()[7] == sum(1 for a in np.linspace(1, 300, 10) if a < 14)
    updates = [np.eye(N_CELLS)[k] * (k + 1) for k in (1, 2, 3)]
    for u in updates:
        tracker.update(u)
    np.testing.assert_allclose(tracker.scores(), updates[1] + updates[2])


def test_sepp_tracker_halves_its_background_in_one_half_life():
    world = planted_world(history_cells=[4], history_per_cell=3)
    tracker = SeppTracker(world, 1.0, half_life_weeks=3.0)
    before = tracker.scores()[4]
    for _ in range(3):
        tracker.update(np.zeros(N_CELLS))
    assert tracker.scores()[4] == pytest.approx(before / 2)


@pytest.mark.parametrize("kwargs, field", [
    ({"base_discovery": 0.0}, "base_discovery"), ({"patrolled_discovery": 1.5}, "patrolled_discovery"),
    ({"deterrence": 1.0}, "deterrence"), ({"capacity": 0}, "capacity"), ({"window_weeks": 0}, "window_weeks"),
])
def test_params_name_the_setting_they_refuse(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SimulationParams(**kwargs)


def test_capacity_defaults_to_one_percent_of_cells_and_never_exceeds_the_grid():
    assert SimulationParams().cells_patrolled(6103) == 62
    assert SimulationParams().cells_patrolled(30) == 1
    assert SimulationParams(capacity=50).cells_patrolled(30) == 30


def test_every_cell_needs_a_district():
    codes, names = district_codes(["9", "10", "9"])
    assert names == ("10", "9") and codes.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="no district"):
        district_codes(["1", None])


def test_summary_standard_error_is_across_seeds():
    world, params = planted_world(history_cells=[2], history_per_cell=4), SimulationParams(capacity=3)
    runs = run_seeds(world, ["naive", "uniform"], 5, [0, 1, 2, 3], params)
    summary = summarise(runs).set_index("policy")
    prevented = np.array([r.totals()["prevented"] for r in runs if r.policy == "naive"])
    assert summary.at["naive", "seeds"] == 4
    assert summary.at["naive", "prevented"] == pytest.approx(prevented.mean())
    assert summary.at["naive", "prevented_se"] == pytest.approx(prevented.std(ddof=1) / 2)
    assert summary.at["naive", "prevented_lo"] <= summary.at["naive", "prevented"] <= summary.at["naive",
                                                                                                  "prevented_hi"]
