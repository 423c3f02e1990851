"""The simulated city: a self-exciting "true crime" model per H3 cell, fitted to recorded incidents.

Recorded incidents are only the crimes that were discovered, so the fitted
rates are scaled up by the base discovery rate to give the true rates (the
history is taken as recorded at that rate, without patrol effects, an
assumption stated in ``docs/accountability.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from models.hotspots.baselines import SelfExcitingGrid
from models.simulation.params import SimulationParams


@dataclass(frozen=True)
class World:
    """What a simulation needs to know about the city, in cell order.

    Attributes
    ----------
    mu
        True background rate per cell and day (before any patrol).
    theta, omega
        Triggering: each crime adds ``theta * omega * exp(-omega * dt)`` (``dt`` in days)
        to its cell's rate; ``theta`` is the expected number of crimes one crime triggers.
    excitation
        ``sum_i exp(-omega (t0 - t_i))`` over the true crimes before the start ``t0``.
    history_cell, history_age_days
        Recorded incidents before the start (cell position, age in days at the start);
        they seed every forecast, as the recorded history seeds a real one.
    district
        District position (into ``district_names``) of each cell.
    district_names
        The districts' ids.
    xy
        Cell centroids in metres (for the ``kde`` strategy); ``None`` when unknown.
    h3
        Cell ids, for output; ``None`` for synthetic worlds.
    """

    mu: np.ndarray
    theta: float
    omega: float
    excitation: np.ndarray
    history_cell: np.ndarray
    history_age_days: np.ndarray
    district: np.ndarray
    district_names: tuple[str, ...]
    xy: np.ndarray | None = None
    h3: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.mu)
        if n == 0:
            raise ValueError("a World needs at least one cell")
        if len(self.excitation) != n or len(self.district) != n:
            raise ValueError(f"mu, excitation and district must have one value per cell ({n}); got "
                             f"{len(self.excitation)} and {len(self.district)}")
        if np.any(self.mu < 0) or not np.all(np.isfinite(self.mu)):
            raise ValueError("mu must be finite and >= 0")
        if not (0 <= self.theta < 1 and self.omega > 0):
            raise ValueError(f"theta must be in [0, 1) and omega > 0, got {self.theta}, {self.omega}")
        if len(self.district) and (self.district.min() < 0 or self.district.max() >= len(self.district_names)):
            raise ValueError("district positions must index district_names")
        if len(self.history_cell) != len(self.history_age_days):
            raise ValueError("history_cell and history_age_days must have the same length")

    @property
    def n_cells(self) -> int:
        return len(self.mu)

    @property
    def n_districts(self) -> int:
        return len(self.district_names)


def district_codes(cell_district: Sequence) -> tuple[np.ndarray, tuple[str, ...]]:
    """Positions and sorted names of the districts of each cell; a cell without one is an error."""
    labels = np.asarray([None if v is None else str(v) for v in cell_district], dtype=object)
    missing = np.flatnonzero(labels == None)  # noqa: E711
    if len(missing):
        raise ValueError(f"{len(missing)} cells have no district (first at position {missing[0]}); "
                         "assign every study-area cell to an area of the boundary layer")
    names, codes = np.unique(labels.astype(str), return_inverse=True)
    return codes.astype(np.int64), tuple(str(n) for n in names)


def fit_world(incidents: pa.Table, cells: pa.Table, cell_district: Sequence,
              params: SimulationParams | None = None) -> World:
    """Fit the true-crime model to recorded ``incidents`` on the study-area ``cells``.

    Parameters
    ----------
    incidents
        ``occurred_at`` (timestamp) and ``h3`` (at the cells' resolution or finer), e.g. silver
        ``incidents`` or the accepted rows of a parsed incident file.
    cells
        Study-area cells (``jobs.grid.cells.study_area_cells``).
    cell_district
        District id of each row of ``cells`` (e.g. ``jobs.geo.areas.assign_areas`` on the cell
        centroids).
    params
        ``fit_window_days``, ``cutoff_days`` and ``base_discovery`` are used.

    Notes
    -----
    The model is :class:`models.hotspots.baselines.SelfExcitingGrid` (Mohler et al. 2015),
    fitted by its EM on the last ``fit_window_days`` of incidents. Its background rates and the
    excitation of the recorded past are divided by ``base_discovery``, the share of crime
    recorded without patrols, so that discovering crime at that rate reproduces the recorded
    rate; ``theta`` (a ratio) and ``omega`` are kept.
    """
    params = params or SimulationParams()
    if cells.num_rows != len(cell_district):
        raise ValueError(f"cell_district has {len(cell_district)} values for {cells.num_rows} cells")
    model = SelfExcitingGrid(window_days=params.fit_window_days, cutoff_days=params.cutoff_days).fit(incidents, cells)
    t_days, cell = model.t_days_, model.events_.cell
    age = t_days[-1] - t_days
    recent = age <= params.cutoff_days
    excitation = np.bincount(cell[recent], weights=np.exp(-model.omega_ * age[recent]), minlength=len(model.mu_))
    codes, names = district_codes(cell_district)
    return World(
        mu=model.mu_ / params.base_discovery,
        theta=float(model.theta_),
        omega=float(model.omega_),
        excitation=excitation / params.base_discovery,
        history_cell=cell.astype(np.int64),
        history_age_days=age,
        district=codes,
        district_names=names,
        xy=model.grid_.xy,
        h3=tuple(model.grid_.h3.to_pylist()),
    )
