"""Benchmark: the feedback-loop audit on the bundled Chicago data (issue #17 targets).

Usage::

    .venv/bin/python benchmarks/simulation.py                   # 52 weeks, 10 seeds
    .venv/bin/python benchmarks/simulation.py --plot loop.png   # also the runaway index per week

Data: ``data/chicago/aggravated_assaults_2010_2017.csv.gz`` (117,875 incidents,
falls back to ``../shared/data``) on the H3 resolution-9 cells of the spec's
police-district layer, each cell in the district its centre lies in (or the
nearest). True crime: the SEPP baseline fitted to the last two years
(``models.simulation.fit_world``), default ``SimulationParams`` (their sources:
docs/accountability.md).

Prints, per policy, the final runaway index's mean and standard error over the
seeds; in how many seeds naive ends above corrected (target: at least 9 of 10,
same seed for both); and the wall time of one 52-week simulation (target: under
60 s on 2 cores), with the one-off fit beside it. A second block repeats the
comparison under a strong-feedback setting fixed in advance (Ensign et al.'s
case: the public reports 1 crime in 10, patrols discover 9 in 10), as a check
that the index detects a runaway loop when there is one; it is not the target.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.chicago_data import load_incidents  # noqa: E402
from models.simulation import SimulationParams, fit_world, run_seeds, simulate, summarise  # noqa: E402

SPEC = REPO / "specs" / "chicago_aggravated_assaults.yaml"
POLICIES = ["naive", "corrected", "uniform", "random"]
#: Ensign et al. (2018)'s regime, fixed before any run: discovery depends mostly on patrols.
STRONG = {"base_discovery": 0.1, "patrolled_discovery": 0.9}


def chicago_cells(resolution: int = 9):
    """The incidents, the study-area cells and each cell's district, as ``crimefusion simulate`` builds them."""
    import sedonadb

    from jobs.geo.areas import assign_areas
    from jobs.grid.cells import study_area_cells
    from jobs.ingest.spec import load_spec
    from orchestration.ingest.boundaries import read_boundaries

    districts = read_boundaries(load_spec(SPEC))
    cells = study_area_cells(districts.column("geometry"), resolution=resolution)
    area, _ = assign_areas(cells.column("lon").to_numpy(), cells.column("lat").to_numpy(), districts,
                           ctx=sedonadb.connect(), tolerance_m=float("inf"))
    return load_incidents(), cells, area.to_pylist()


def compare(world, params: SimulationParams, weeks: int, seeds: int, label: str):
    runs = run_seeds(world, POLICIES, weeks, list(range(seeds)), params)
    summary = summarise(runs).set_index("policy")
    print(f"\n{label}: base_discovery {params.base_discovery}, patrolled_discovery {params.patrolled_discovery}, "
          f"deterrence {params.deterrence}, capacity {params.cells_patrolled(world.n_cells)} cells")
    print(f"{'policy':<10} {'runaway mean':>12} {'s.e.':>7} {'true crime':>11} {'discovered':>11} {'prevented':>10}")
    for p in POLICIES:
        r = summary.loc[p]
        print(f"{p:<10} {r.runaway_index:>12.4f} {r.runaway_index_se:>7.4f} {r.true_crime:>11,.0f} "
              f"{r.discovered:>11,.0f} {r.prevented:>10,.1f}")
    final = {p: np.array([r.runaway_index for r in runs if r.policy == p]) for p in ("naive", "corrected")}
    above = int((final["naive"] > final["corrected"]).sum())
    diff = final["naive"] - final["corrected"]
    print(f"naive ends above corrected in {above} of {seeds} seeds (target >= {int(np.ceil(0.9 * seeds))}); "
          f"paired difference {diff.mean():+.4f} +/- {diff.std(ddof=1) / np.sqrt(seeds):.4f} (s.e.)")
    return runs, above


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--plot", type=Path, default=None, help="PNG of the runaway index per week (default settings).")
    args = ap.parse_args()

    params = SimulationParams()
    incidents, cells, districts = chicago_cells()
    t0 = time.perf_counter()
    world = fit_world(incidents, cells, districts, params)
    fit_s = time.perf_counter() - t0
    print(f"{incidents.num_rows:,} incidents, {world.n_cells:,} cells, {world.n_districts} districts; SEPP theta "
          f"{world.theta:.4f}, omega {world.omega:.2f}/day; fit {fit_s:.2f} s")
    t0 = time.perf_counter()
    simulate(world, "naive", args.weeks, 0, params)
    one = time.perf_counter() - t0
    print(f"one {args.weeks}-week simulation: {one:.3f} s (fit + simulation {fit_s + one:.2f} s; target < 60 s)")
    runs, _ = compare(world, params, args.weeks, args.seeds, "default settings (the target)")
    strong = SimulationParams(**STRONG)
    compare(fit_world(incidents, cells, districts, strong), strong, args.weeks, args.seeds,
            "strong-feedback check (not the target)")
    if args.plot is not None:
        from models.simulation.plots import plot_runaway

        plot_runaway(runs).savefig(args.plot, dpi=130)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
