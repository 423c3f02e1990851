"""Forecasts that the simulated police refit every week from the crime they discovered.

A full refit of a hotspot model every simulated week would cost seconds per
week; these trackers keep sufficient statistics instead and update them with
each week's (weighted) discovered counts in one vector operation, so a
52-week run costs milliseconds per week. Each one is seeded with the recorded
history, as a real forecast would be.
"""

from __future__ import annotations

import numpy as np

from jobs.grid.cells import quartic_weights
from models.simulation.world import World

#: Days per simulated week; a week's discovered crimes are dated at its middle.
WEEK_DAYS = 7.0


class SeppTracker:
    """The self-exciting forecast, refitted incrementally.

    Score of a cell for the coming week: ``(1 - theta) * b + theta * (1 - exp(-7 omega)) * S``,
    where ``b`` is an exponentially weighted mean of the cell's weekly counts (half-life
    ``half_life_weeks``) and ``S`` the decayed excitation of its past crimes.

    Notes
    -----
    ``theta`` and ``omega`` come from the EM fit of
    :class:`models.hotspots.baselines.SelfExcitingGrid` (Mohler et al. 2015); the background
    rate, which that EM re-estimates as the cell's background-attributed count over the
    window, is re-estimated each week as ``(1 - theta)`` times the weighted mean weekly count
    (in a stationary process a share ``1 - theta`` of events is background).
    """

    def __init__(self, world: World, weights: float, half_life_weeks: float):
        self.theta, self.omega = world.theta, world.omega
        self.r = 0.5 ** (1.0 / half_life_weeks)
        age_weeks = world.history_age_days / WEEK_DAYS
        n = world.n_cells
        self.decayed = weights * np.bincount(world.history_cell, weights=self.r ** age_weeks, minlength=n)
        self.excitation = weights * np.bincount(
            world.history_cell, weights=np.exp(-self.omega * world.history_age_days), minlength=n)

    def update(self, counts: np.ndarray) -> None:
        self.decayed = self.r * self.decayed + counts
        self.excitation = self.excitation * np.exp(-self.omega * WEEK_DAYS) + counts * np.exp(
            -self.omega * WEEK_DAYS / 2)

    def scores(self) -> np.ndarray:
        background = (1.0 - self.r) * self.decayed
        return (1.0 - self.theta) * background + self.theta * (1.0 - np.exp(-self.omega * WEEK_DAYS)) * self.excitation


class WindowCounts:
    """Counts over a trailing window of weeks (the ``naive`` hotspot baseline), kept in a ring buffer."""

    def __init__(self, world: World, weights: float, window_weeks: int):
        week = np.floor(world.history_age_days / WEEK_DAYS).astype(np.int64)
        keep = week < window_weeks
        self.buffer = np.zeros((window_weeks, world.n_cells))
        # slot k holds the week that ends k weeks before the start (slot 0: the last one)
        np.add.at(self.buffer, (week[keep], world.history_cell[keep]), weights)
        self.total = self.buffer.sum(axis=0)
        self.slot = window_weeks - 1  # the oldest week, overwritten next

    def update(self, counts: np.ndarray) -> None:
        self.total += counts - self.buffer[self.slot]
        self.buffer[self.slot] = counts
        self.slot = (self.slot - 1) % len(self.buffer)

    def scores(self) -> np.ndarray:
        return self.total


class WindowKDE(WindowCounts):
    """Quartic kernel density of the trailing window's counts over cell centroids (``kde`` baseline)."""

    def __init__(self, world: World, weights: float, window_weeks: int, bandwidth_m: float):
        if world.xy is None:
            raise ValueError("the kde strategy needs cell centroids (World.xy)")
        super().__init__(world, weights, window_weeks)
        self.kernel = quartic_weights(world.xy, bandwidth_m)

    def scores(self) -> np.ndarray:
        return self.kernel @ self.total
