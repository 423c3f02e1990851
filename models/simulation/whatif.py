"""Many seeds, several policies or strategies: runs and their summaries with intervals across seeds."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from models.simulation.feedback import POLICIES, Plan, SimulationResult, simulate
from models.simulation.params import SimulationParams
from models.simulation.world import World


def run_seeds(world: World, policies: Sequence[str], weeks: int, seeds: Sequence[int],
              params: SimulationParams | None = None, plans: dict[str, Plan] = POLICIES,
              progress: Callable[[int], None] | None = None) -> list[SimulationResult]:
    """:func:`simulate` every policy (a key of ``plans``) with every seed, in that order."""
    out = []
    for policy in policies:
        for seed in seeds:
            out.append(simulate(world, policy, weeks, seed, params, plans=plans))
            if progress is not None:
                progress(1)
    return out


def _interval(values: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """Mean, standard error and the central ``level`` percentile interval of values across seeds."""
    se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return float(values.mean()), se, float(lo), float(hi)


def summarise(results: Sequence[SimulationResult], level: float = 0.95) -> pd.DataFrame:
    """One row per policy: seeds, and for expected crime prevented and the final runaway index the mean,
    standard error and central ``level`` percentile interval across seeds; mean true and discovered crime.

    Notes
    -----
    The standard error is the sample standard deviation across seeds over ``sqrt(seeds)``: it
    measures the simulation's randomness under fixed parameters, not the uncertainty of the
    parameters themselves (deterrence, discovery rates), which the runs take as given.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rows = []
    for policy in dict.fromkeys(r.policy for r in results):
        runs = [r.totals() for r in results if r.policy == policy]
        row = {"policy": policy, "seeds": len(runs)}
        for key in ("prevented", "runaway_index"):
            mean, se, lo, hi = _interval(np.array([t[key] for t in runs], dtype=np.float64), level)
            row.update({key: mean, f"{key}_se": se, f"{key}_lo": lo, f"{key}_hi": hi})
        row["true_crime"] = float(np.mean([t["true_crime"] for t in runs]))
        row["discovered"] = float(np.mean([t["discovered"] for t in runs]))
        rows.append(row)
    return pd.DataFrame(rows)


def runaway_by_week(results: Sequence[SimulationResult]) -> pd.DataFrame:
    """Long table ``policy``, ``seed``, ``week``, ``runaway`` of every run's weekly runaway index."""
    frames = [pd.DataFrame({"policy": r.policy, "seed": r.seed, "week": np.arange(1, r.weeks + 1),
                            "runaway": r.runaway}) for r in results]
    return pd.concat(frames, ignore_index=True)
