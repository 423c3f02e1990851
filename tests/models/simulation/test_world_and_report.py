"""Fitting the simulated city to recorded incidents (the SEPP baseline), and the figures and page of the results."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from models.simulation import STRATEGIES, SimulationParams, fit_world, run_seeds, simulate, summarise
from models.simulation.plots import plot_runaway
from models.simulation.report import whatif_report

CENTRE = h3.latlng_to_cell(41.88, -87.63, 9)
# the planted incidents are pure Poisson: with no triggering to find, the EM's theta creeps towards 0 for ever
pytestmark = pytest.mark.filterwarnings("ignore:SelfExcitingGrid EM did not converge")


@pytest.fixture(scope="module")
def recorded():
    """37 res-9 cells; the centre cell records 12 incidents a month for two years, every other cell one."""
    rng = np.random.default_rng(0)
    cells = sorted(h3.grid_disk(CENTRE, 3))
    start = pd.Timestamp("2020-01-01", tz="UTC")
    rows = []
    for c in cells:
        n = 288 if c == CENTRE else 24
        days = np.sort(rng.uniform(0, 730, n))
        rows += [(start + pd.Timedelta(days=float(d)), c) for d in days]
    incidents = pa.table({"occurred_at": pa.array([r[0] for r in rows], pa.timestamp("ns", tz="UTC")),
                          "h3": [r[1] for r in rows]})
    districts = ["north" if h3.cell_to_latlng(c)[0] >= h3.cell_to_latlng(CENTRE)[0] else "south" for c in cells]
    return incidents, pa.table({"h3": cells}), districts


def test_true_rates_are_the_recorded_rates_over_the_base_discovery(recorded):
    incidents, cells, districts = recorded
    params = SimulationParams(base_discovery=0.5, fit_window_days=None)
    world = fit_world(incidents, cells, districts, params)
    centre = cells.column("h3").to_pylist().index(CENTRE)
    assert world.n_cells == 37 and world.district_names == ("north", "south")
    assert int(np.argmax(world.mu)) == centre
    # recorded at 288 / 730 a day in the centre (background dominates): true = recorded / 0.5
    assert world.mu[centre] * 0.5 == pytest.approx(288 / 730, rel=0.25)
    assert len(world.history_cell) == incidents.num_rows and (world.history_age_days >= 0).all()
    assert world.h3[centre] == CENTRE and world.xy.shape == (37, 2)


def test_a_fitted_world_runs_every_strategy(recorded):
    incidents, cells, districts = recorded
    params = SimulationParams(capacity=3)
    world = fit_world(incidents, cells, districts, params)
    runs = run_seeds(world, list(STRATEGIES), 4, [0, 1], params, plans=STRATEGIES)
    summary = summarise(runs)
    assert summary["policy"].tolist() == list(STRATEGIES)
    top = summary.set_index("policy")["prevented"]
    assert top["forecast"] > top["uniform"]  # 3 of 37 cells on the hottest cells beat 3/37 everywhere
    page, fig = whatif_report(summary, weeks=4, capacity=3, n_cells=37, params=params, source="planted.csv",
                              timezone="America/Chicago")
    assert page.count("data:image/png;base64,") == 1 and "http" not in page
    assert "America/Chicago" in page and all(s in page for s in STRATEGIES)
    assert len(fig.axes) == 1


def test_fit_world_refuses_districts_that_do_not_match_the_cells(recorded):
    incidents, cells, districts = recorded
    with pytest.raises(ValueError, match="37 cells"):
        fit_world(incidents, cells, districts[:-1])


def test_runaway_plot_draws_one_line_per_policy(recorded):
    incidents, cells, districts = recorded
    world = fit_world(incidents, cells, districts, SimulationParams(capacity=2))
    runs = [simulate(world, p, 5, s, SimulationParams(capacity=2)) for p in ("naive", "corrected") for s in (0, 1)]
    fig = plot_runaway(runs)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["naive (mean of 2 seeds)", "corrected (mean of 2 seeds)"]
