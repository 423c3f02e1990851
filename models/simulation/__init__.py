"""Feedback-loop simulator and what-if patrol scenarios (issue #17; ``docs/accountability.md``).

Pure computation: a :class:`World` fitted to recorded incidents (:func:`fit_world`),
:func:`simulate` for one seeded run, :func:`run_seeds` and :func:`summarise` for many.
"""

from models.simulation.feedback import (
    POLICIES, STRATEGIES, TABLE_COLUMNS, Plan, SimulationResult, runaway_index, simulate,
)
from models.simulation.params import SimulationParams
from models.simulation.whatif import run_seeds, runaway_by_week, summarise
from models.simulation.world import World, district_codes, fit_world

__all__ = [
    "POLICIES", "STRATEGIES", "TABLE_COLUMNS", "Plan", "SimulationParams", "SimulationResult", "World",
    "district_codes", "fit_world", "run_seeds", "runaway_by_week", "runaway_index", "simulate", "summarise",
]
