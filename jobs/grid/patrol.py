"""Patrol plans: a weekly cell forecast split into 8-hour shifts, and the top cells per shift.

A weekly expected count per cell is shared out over the week's 21 shifts by the
cell's own history of when its incidents happen, shrunk towards the city-wide
profile where the cell has few incidents; each shift then gets the ``capacity``
cells with the most expected crime.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.grid.cell_features import resolve_cells, resolve_events
from jobs.grid.schemas import PATROL_SCHEMA
from jobs.localtime import local_week, span_label, wall_time

SHIFTS_PER_DAY = 3
SHIFTS_PER_WEEK = 7 * SHIFTS_PER_DAY


def shift_index(t_ns: np.ndarray, *, timezone: str = "UTC", first_shift_hour: int = 6) -> np.ndarray:
    """Shift of the week (0..20) of UTC nanosecond times: 0 = Monday's first shift, local time.

    Times before ``first_shift_hour`` belong to the previous day's last shift.
    """
    if not 0 <= int(first_shift_hour) < 8:
        raise ValueError(f"first_shift_hour must be in 0..7 (three 8-hour shifts a day), got {first_shift_hour}")
    local = pd.DatetimeIndex(np.asarray(t_ns, dtype="datetime64[ns]"), tz="UTC").tz_convert(timezone)
    # on the wall clock (as patrol_plan's shifts are): an hour's jump at a DST change moves no shift boundary
    shifted = local.tz_localize(None) - pd.Timedelta(hours=int(first_shift_hour))
    return (shifted.dayofweek.to_numpy() * SHIFTS_PER_DAY + shifted.hour.to_numpy() // 8).astype(np.int64)


def shift_profile(
    incidents: pa.Table,
    cells: pa.Table | pa.Array,
    *,
    before,
    window_days: float = 365.0,
    prior_strength: float = 20.0,
    timezone: str = "UTC",
    first_shift_hour: int = 6,
) -> np.ndarray:
    """Share of each cell's crime falling in each of the week's 21 shifts, ``(n_cells, 21)``, rows sum to 1.

    Parameters
    ----------
    incidents
        ``occurred_at`` (UTC) and ``h3``; only rows in ``[before - window_days, before)`` count.
    cells
        Study-area cells (the forecast's cells).
    before
        Cut-off timestamp (the forecast week's start): later incidents are never read.
    window_days
        History window.
    prior_strength
        Pseudo-count of the city-wide profile added to each cell's counts
        (empirical-Bayes shrinkage; a cell with no history gets the city profile).
    timezone, first_shift_hour
        Local clock of the shifts (default shifts 06-14, 14-22, 22-06).

    Notes
    -----
    Dirichlet-multinomial smoothing of per-cell time profiles towards the pooled
    profile, as used for temporal allocation in Ratcliffe (2004), "The Hotspot
    Matrix", Police Practice and Research 5(1).
    """
    if prior_strength <= 0:
        raise ValueError(f"prior_strength must be > 0, got {prior_strength}")
    grid = resolve_cells(cells)
    ev = resolve_events(incidents, grid)
    hi = pd.Timestamp(before)
    hi = hi.tz_localize("UTC") if hi.tzinfo is None else hi.tz_convert("UTC")
    lo = hi - pd.Timedelta(days=float(window_days))
    keep = (ev.t_ns >= lo.value) & (ev.t_ns < hi.value)
    n = len(grid)
    counts = np.zeros((n, SHIFTS_PER_WEEK))
    if keep.any():
        s = shift_index(ev.t_ns[keep], timezone=timezone, first_shift_hour=first_shift_hour)
        np.add.at(counts, (ev.cell[keep], s), 1.0)
    city = counts.sum(axis=0) + 1.0  # +1: no shift is ever impossible
    city = city / city.sum()
    prof = counts + prior_strength * city[None, :]
    return prof / prof.sum(axis=1, keepdims=True)


def patrol_plan(
    h3: pa.Array | list[str],
    expected_week: np.ndarray,
    profile: np.ndarray,
    *,
    week_start,
    capacity: int = 10,
    timezone: str = "UTC",
    first_shift_hour: int = 6,
) -> pa.Table:
    """Top ``capacity`` cells per 8-hour shift of one week.

    Parameters
    ----------
    h3
        Cells, aligned with ``expected_week`` and ``profile`` rows.
    expected_week
        Expected incidents per cell over the week (the forecast).
    profile
        ``(n_cells, 21)`` shift shares (:func:`shift_profile`).
    week_start
        Monday 00:00 (UTC) of the forecast week, which names the local week Monday to
        Sunday of that date (:func:`jobs.localtime.local_week`); shifts start at
        ``first_shift_hour`` local time on each of its days and are labelled with their
        local day and times (``Mon 1 Jan 06:00–14:00``).
    capacity
        Cells a shift's patrols can cover.

    Returns
    -------
    pyarrow.Table
        ``PATROL_SCHEMA``: ``capacity`` rows per shift (21 shifts), ordered by shift and
        rank; ``share_of_shift`` is the cell's share of the shift's expected crime.
    """
    if not isinstance(capacity, (int, np.integer)) or capacity < 1:
        raise ValueError(f"capacity must be a positive number of cells, got {capacity!r}")
    expected_week = np.asarray(expected_week, dtype=np.float64)
    profile = np.asarray(profile, dtype=np.float64)
    if profile.shape != (len(expected_week), SHIFTS_PER_WEEK):
        raise ValueError(f"profile must be ({len(expected_week)}, {SHIFTS_PER_WEEK}), got {profile.shape}")
    cells = np.asarray(h3 if isinstance(h3, list) else h3.to_pylist(), dtype=object)
    k = min(int(capacity), len(cells))
    # The week named 2018-01-01 is Monday 1 to Sunday 7 January on the local calendar: converting its
    # Monday 00:00 UTC to Chicago time would start it on Sunday 31 December.
    monday, _ = local_week(week_start, timezone)
    by_shift = expected_week[:, None] * profile
    rows: dict[str, list] = {n: [] for n in PATROL_SCHEMA.names}
    for s in range(SHIFTS_PER_WEEK):
        day, part = divmod(s, SHIFTS_PER_DAY)
        # on the wall clock: a 06:00 shift stays at 06:00 across a daylight-saving change
        start_local = wall_time(monday + pd.Timedelta(days=day), int(first_shift_hour) + 8 * part, timezone)
        label = span_label(start_local, 8)
        col = by_shift[:, s]
        order = np.lexsort((cells.astype(str), -col))[:k]  # ties broken by cell id
        total = col.sum()
        rows["shift_start"] += [start_local.tz_convert("UTC")] * k
        rows["shift_label"] += [label] * k
        rows["rank"] += list(range(1, k + 1))
        rows["h3"] += cells[order].tolist()
        rows["expected_count"] += col[order].tolist()
        rows["share_of_shift"] += (col[order] / total if total > 0 else np.zeros(k)).tolist()
    return pa.table(rows, schema=PATROL_SCHEMA)


def cells_by_shift(plan: pa.Table) -> dict[str, list[str]]:
    """``{shift label: patrol cells in rank order}`` of a :func:`patrol_plan` table."""
    shifts: dict[str, list[str]] = {}
    for label, cell in zip(plan.column("shift_label").to_pylist(), plan.column("h3").to_pylist()):
        shifts.setdefault(label, []).append(cell)
    return shifts


def mean_share_covered(plan: pa.Table) -> float:
    """Mean over shifts of the share of the shift's expected crime in its patrol cells."""
    import pyarrow.compute as pc

    per_shift = plan.group_by("shift_label").aggregate([("share_of_shift", "sum")])
    return float(pc.mean(per_shift.column("share_of_shift_sum")).as_py())
