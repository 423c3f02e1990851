"""The weekly feedback loop: true crime, discovery, refit on discovered crime, patrols follow the forecast.

Each simulated week:

1. the policy allocates ``K`` patrol cells (``uniform``: every cell gets ``K / n`` of a patrol);
2. true crime is drawn day by day from the self-exciting model of the
   :class:`~models.simulation.world.World`, a patrolled cell's rate cut by the deterrence share;
3. each crime is discovered with the probability of its cell (base or patrolled rate);
4. the forecast is updated with the discovered crimes only: as counted (``naive``) or each
   divided by its cell's discovery probability (``corrected``).

``runaway_index`` measures where that leaves the patrols: the total-variation distance
between their allocation across districts and the true crime across districts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from models.simulation.forecasters import WEEK_DAYS, SeppTracker, WindowCounts, WindowKDE
from models.simulation.params import SimulationParams
from models.simulation.world import World


class Plan(NamedTuple):
    """How a policy or what-if strategy allocates: its forecast (``None``: no forecast) and weighting."""

    forecast: str | None  # "sepp", "counts", "kde"; None with allocation "uniform" or "random"
    allocation: str  # "top", "uniform", "random"
    weighting: str = "naive"  # "naive" (as discovered) or "corrected" (inverse discovery probability)


#: Feedback-loop policies (``crimefusion simulate feedback --policy``).
POLICIES: dict[str, Plan] = {
    "naive": Plan("sepp", "top", "naive"),
    "corrected": Plan("sepp", "top", "corrected"),
    "uniform": Plan(None, "uniform"),
    "random": Plan(None, "random"),
}

#: What-if strategies (``crimefusion simulate patrol --strategy``), each fed the crime it discovers.
STRATEGIES: dict[str, Plan] = {
    "forecast": Plan("sepp", "top"),
    "kde": Plan("kde", "top"),
    "naive": Plan("counts", "top"),
    "uniform": Plan(None, "uniform"),
}

#: Columns of :attr:`SimulationResult.table`, one row per week and district.
TABLE_COLUMNS = ["week", "policy", "seed", "district", "patrol_cells", "true_crime", "discovered", "prevented",
                 "expected_crime"]


@dataclass(frozen=True)
class SimulationResult:
    """One seeded run.

    Attributes
    ----------
    policy, seed, weeks, params
        What ran.
    table
        :data:`TABLE_COLUMNS`: per week (1-based) and district, the patrol allocation in cells
        (fractional under ``uniform``), the true crimes drawn, those discovered, the expected
        crimes prevented, and the expected true crime before prevention.
    runaway
        Runaway index of every week (:func:`runaway_index` of that week's allocation against
        its expected true crime by district).
    final_scores
        The forecast's cell scores after the last week (``None`` for policies without one).
    """

    policy: str
    seed: int
    weeks: int
    params: SimulationParams
    table: pd.DataFrame
    runaway: np.ndarray
    final_scores: np.ndarray | None

    @property
    def runaway_index(self) -> float:
        """The runaway index at the end of the run (0: patrols spread as true crime is)."""
        return float(self.runaway[-1])

    def totals(self) -> dict:
        """Whole-run sums: true, discovered and prevented crime, and the final runaway index."""
        t = self.table
        return {"policy": self.policy, "seed": self.seed, "weeks": self.weeks,
                "runaway_index": round(self.runaway_index, 6),
                "true_crime": int(t["true_crime"].sum()), "discovered": int(t["discovered"].sum()),
                "prevented": round(float(t["prevented"].sum()), 3)}


def runaway_index(allocation: np.ndarray, truth: np.ndarray) -> float:
    """Total-variation distance ``0.5 * sum |a/sum(a) - t/sum(t)|`` between two distributions over districts.

    0 when patrols are spread across districts exactly as true crime is, 1 when they are all
    where no crime is. Notes: Ensign et al. (2018), "Runaway feedback loops in predictive
    policing", FAT* 2018, call a loop runaway when the allocation drifts away from the true
    crime rates; this index measures that drift.
    """
    a = np.asarray(allocation, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    if a.shape != t.shape or a.ndim != 1:
        raise ValueError(f"allocation and truth must be 1-d arrays of one shape, got {a.shape} and {t.shape}")
    if a.sum() <= 0 or t.sum() <= 0 or np.any(a < 0) or np.any(t < 0):
        raise ValueError("allocation and truth must be non-negative with a positive sum")
    return float(0.5 * np.abs(a / a.sum() - t / t.sum()).sum())


def _tracker(plan: Plan, world: World, params: SimulationParams):
    if plan.forecast is None:
        return None
    # the history is taken as recorded at the base rate, so the corrected weight of a past crime is 1 / base
    w = 1.0 / params.base_discovery if plan.weighting == "corrected" else 1.0
    if plan.forecast == "sepp":
        return SeppTracker(world, w, params.forecast_half_life_weeks)
    if plan.forecast == "counts":
        return WindowCounts(world, w, params.window_weeks)
    return WindowKDE(world, w, params.window_weeks, params.kde_bandwidth_m)


def _allocate(plan: Plan, tracker, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Patrol presence per cell in [0, 1], summing to ``k``."""
    patrol = np.zeros(n)
    if plan.allocation == "uniform":
        patrol[:] = k / n
    elif plan.allocation == "random":
        patrol[rng.choice(n, size=k, replace=False)] = 1.0
    else:  # top k scores; ties go to the lower cell position, so a run is reproducible
        patrol[np.lexsort((np.arange(n), -tracker.scores()))[:k]] = 1.0
    return patrol


def _week_of_crime(world: World, excitation: np.ndarray, patrol: np.ndarray, deterrence: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One week drawn day by day: (true counts, expected before prevention, expected prevented, excitation)."""
    day_decay, mid_day = np.exp(-world.omega), np.exp(-world.omega / 2)
    kept = 1.0 - deterrence * patrol
    true = np.zeros(world.n_cells, dtype=np.int64)
    expected = np.zeros(world.n_cells)
    for _ in range(int(WEEK_DAYS)):
        rate = world.mu + world.theta * (1.0 - day_decay) * excitation  # expected crimes this day
        expected += rate
        n = rng.poisson(rate * kept)
        true += n
        excitation = excitation * day_decay + n * mid_day
    return true, expected, expected * (1.0 - kept), excitation


def simulate(world: World, policy: str, weeks: int, seed: int, params: SimulationParams | None = None,
             plans: dict[str, Plan] = POLICIES) -> SimulationResult:
    """Run the feedback loop for ``weeks`` weeks under ``policy`` (a key of ``plans``).

    Parameters
    ----------
    world
        The fitted city (:func:`models.simulation.world.fit_world`).
    policy
        ``naive``, ``corrected``, ``uniform`` or ``random`` (:data:`POLICIES`), or a key of
        ``plans`` (:data:`STRATEGIES` for the what-if strategies).
    weeks
        Weeks simulated (>= 1).
    seed
        Seed of the run's ``numpy.random.Generator``: one seed, one table.
    params
        :class:`SimulationParams` (capacity, discovery rates, deterrence, forecast settings).

    Notes
    -----
    The correction is Ensign, Friedler, Neville, Scheidegger & Venkatasubramanian (2018),
    "Runaway feedback loops in predictive policing", FAT* 2018: a discovered crime counts
    ``1 / q`` where ``q`` is the known discovery probability of its cell that week, so the
    forecast's input is an unbiased estimate of true crime (Horvitz-Thompson). The loop
    itself follows Lum & Isaac (2016), with the self-exciting model of Mohler et al. (2015)
    as the true crime.
    """
    params = params or SimulationParams()
    if policy not in plans:
        raise ValueError(f"policy must be one of {', '.join(plans)}, got {policy!r}")
    if weeks < 1:
        raise ValueError(f"weeks must be >= 1, got {weeks}")
    plan, rng = plans[policy], np.random.default_rng(seed)
    n, k, d = world.n_cells, params.cells_patrolled(world.n_cells), world.n_districts
    tracker = _tracker(plan, world, params)
    excitation = world.excitation.astype(np.float64)
    rows = np.zeros((weeks, 5, d))  # patrol, true, discovered, prevented, expected per district
    runaway = np.zeros(weeks)
    for w in range(weeks):
        patrol = _allocate(plan, tracker, n, k, rng)
        true, expected, prevented, excitation = _week_of_crime(world, excitation, patrol, params.deterrence, rng)
        q = params.base_discovery + patrol * (params.patrolled_discovery - params.base_discovery)
        found = rng.binomial(true, q)
        if tracker is not None:
            tracker.update(found / q if plan.weighting == "corrected" else found.astype(np.float64))
        for i, values in enumerate((patrol, true, found, prevented, expected)):
            rows[w, i] = np.bincount(world.district, weights=values, minlength=d)
        runaway[w] = runaway_index(rows[w, 0], rows[w, 4])
    return SimulationResult(policy, int(seed), int(weeks), params, _table(rows, world, policy, seed), runaway,
                            None if tracker is None else tracker.scores())


def _table(rows: np.ndarray, world: World, policy: str, seed: int) -> pd.DataFrame:
    weeks, _, d = rows.shape
    frame = pd.DataFrame({
        "week": np.repeat(np.arange(1, weeks + 1), d),
        "policy": policy,
        "seed": int(seed),
        "district": np.tile(np.asarray(world.district_names, dtype=object), weeks),
    })
    for i, name in enumerate(TABLE_COLUMNS[4:]):
        frame[name] = rows[:, i, :].reshape(-1)
    for name in ("true_crime", "discovered"):
        frame[name] = frame[name].round().astype(np.int64)
    return frame[TABLE_COLUMNS]
