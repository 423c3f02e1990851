"""The settings of the feedback-loop simulator as one frozen record, with the source of every default.

The defaults are assumptions taken from the literature, not measurements of a
city: each simulation result carries the record it ran with, so a reader can
see what was assumed (``docs/accountability.md``, "Feedback-loop simulator").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SimulationParams:
    """Every setting of :func:`models.simulation.simulate`; validated on construction.

    Parameters
    ----------
    capacity
        Patrol capacity: cells patrolled each week. ``None``: ``capacity_share`` of
        the study-area cells (at least one).
    capacity_share
        Share of cells patrolled when ``capacity`` is ``None``; 1 % is the share the
        project's maps outline as top cells (``HotspotConfig.top_share``).
    base_discovery
        Probability that a crime in an unpatrolled cell is recorded (reported by the
        public). Default 0.5: the order of the share of violent victimisations
        reported to the police in the US National Crime Victimization Survey
        (roughly 40-60 % in recent years; BJS, *Criminal Victimization* series).
    patrolled_discovery
        Probability that a crime in a patrolled cell is recorded. Default 0.6: the
        base rate raised by 20 %, the extra crime observed where police are sent in
        the simulation of Lum & Isaac (2016), "To predict and serve?", *Significance*
        13(5).
    deterrence
        Share of a patrolled cell's expected crime that the patrol prevents. Default
        0.1, an assumption: Braga, Turchan, Papachristos & Hureau (2019), "Hot spots
        policing and crime reduction: an update of an ongoing systematic review and
        meta-analysis", *Journal of Experimental Criminology* 15(3), find a small but
        significant mean reduction at treated hot spots (65 studies, 78 tests); single
        trials measured about 6-23 % (Sherman & Weisburd 1995; Ratcliffe et al. 2011).
    forecast_half_life_weeks
        Half-life of the exponentially weighted counts from which the simulated
        forecast re-estimates each cell's background rate every week.
    window_weeks
        Trailing window of the ``naive`` (counts) and ``kde`` what-if strategies; 52
        weeks is the 365-day window of :class:`models.hotspots.baselines.NaiveCounts`.
    kde_bandwidth_m
        Quartic-kernel bandwidth of the ``kde`` strategy (the default of
        :class:`models.hotspots.baselines.RetrospectiveKDE`).
    fit_window_days, cutoff_days
        Training window and triggering cut-off of the self-exciting model fitted to the
        incidents (:class:`models.hotspots.baselines.SelfExcitingGrid`).
    """

    capacity: int | None = None
    capacity_share: float = 0.01
    base_discovery: float = 0.5
    patrolled_discovery: float = 0.6
    deterrence: float = 0.1
    forecast_half_life_weeks: float = 52.0
    window_weeks: int = 52
    kde_bandwidth_m: float = 400.0
    fit_window_days: float | None = 730.0
    cutoff_days: float = 365.0

    def __post_init__(self) -> None:
        checks = [
            (self.capacity is None or self.capacity >= 1, f"capacity must be >= 1 cell, got {self.capacity}"),
            (0 < self.capacity_share <= 1, f"capacity_share must be in (0, 1], got {self.capacity_share}"),
            (0 < self.base_discovery <= 1, f"base_discovery must be in (0, 1], got {self.base_discovery}"),
            (0 < self.patrolled_discovery <= 1,
             f"patrolled_discovery must be in (0, 1], got {self.patrolled_discovery}"),
            (0 <= self.deterrence < 1, f"deterrence must be in [0, 1), got {self.deterrence}"),
            (self.forecast_half_life_weeks > 0,
             f"forecast_half_life_weeks must be > 0, got {self.forecast_half_life_weeks}"),
            (self.window_weeks >= 1, f"window_weeks must be >= 1, got {self.window_weeks}"),
            (self.kde_bandwidth_m > 0, f"kde_bandwidth_m must be > 0, got {self.kde_bandwidth_m}"),
            (self.fit_window_days is None or self.fit_window_days > 0,
             f"fit_window_days must be > 0 or None, got {self.fit_window_days}"),
            (self.cutoff_days > 0, f"cutoff_days must be > 0, got {self.cutoff_days}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def cells_patrolled(self, n_cells: int) -> int:
        """The weekly capacity in cells for a grid of ``n_cells`` (never more than the grid)."""
        k = self.capacity if self.capacity is not None else max(1, math.ceil(self.capacity_share * n_cells))
        return int(min(k, n_cells))

    def to_dict(self) -> dict:
        """The settings as plain values (JSON-ready), stored beside each result."""
        return asdict(self)
