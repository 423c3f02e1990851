"""Patrol plans: a weekly cell forecast split into 8-hour shifts, and the top cells per shift.

A weekly expected count per cell is shared out over the week's 21 shifts by the
cell's own history of when its incidents happen (over the shifts of the week or of
the day), shrunk towards the city-wide profile where the cell has few incidents, or
evenly; :func:`choose_shift_profile` picks which on the weeks before the plan. Each
shift then gets the ``capacity`` cells with the most expected crime.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.grid.cell_features import resolve_cells, resolve_events
from jobs.grid.profiles import period_hit_rates, pick_by_margin
from jobs.grid.schemas import PATROL_SCHEMA
from jobs.localtime import local_week, span_label, wall_time
from jobs.stats import paired_margin

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
    cycle: int | None = SHIFTS_PER_WEEK,
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
    cycle
        ``21``: each cell's own profile over the shifts of the week; ``3``: over the shifts of
        the day, the same on every day of the week; ``None``: no profile, every shift a 21st of
        the week. :func:`choose_shift_profile` picks one on the weeks before.

    Notes
    -----
    Dirichlet-multinomial smoothing of per-cell time profiles towards the pooled
    profile, as used for temporal allocation in Ratcliffe (2004), "The Hotspot
    Matrix", Police Practice and Research 5(1).
    """
    grid = resolve_cells(cells)
    ev = resolve_events(incidents, grid)
    shifts = shift_index(ev.t_ns, timezone=timezone, first_shift_hour=first_shift_hour)
    counts = _shift_counts(ev.cell, ev.t_ns, shifts, len(grid), before, window_days)
    return _profile(counts, cycle, prior_strength)


def _cutoff_ns(before) -> int:
    hi = pd.Timestamp(before)
    return int((hi.tz_localize("UTC") if hi.tzinfo is None else hi.tz_convert("UTC")).value)


def _shift_counts(cell: np.ndarray, t_ns: np.ndarray, shifts: np.ndarray, n: int, before,
                  window_days: float) -> np.ndarray:
    """``(n, 21)`` incidents per cell and shift of the week in ``[before - window_days, before)``."""
    hi = _cutoff_ns(before)
    keep = (t_ns >= hi - int(pd.Timedelta(days=float(window_days)).value)) & (t_ns < hi)
    counts = np.zeros((n, SHIFTS_PER_WEEK))
    np.add.at(counts, (cell[keep], shifts[keep]), 1.0)
    return counts


def _profile(counts: np.ndarray, cycle: int | None, prior_strength: float) -> np.ndarray:
    if cycle not in (SHIFTS_PER_WEEK, SHIFTS_PER_DAY, None):
        raise ValueError(f"cycle must be {SHIFTS_PER_WEEK} (shifts of the week), {SHIFTS_PER_DAY} (shifts of "
                         f"the day) or None (no profile), got {cycle!r}")
    n = counts.shape[0]
    if cycle is None:
        return np.full((n, SHIFTS_PER_WEEK), 1.0 / SHIFTS_PER_WEEK)
    if not prior_strength > 0:
        raise ValueError(f"prior_strength must be > 0, got {prior_strength}")
    if cycle == SHIFTS_PER_DAY:
        counts = counts.reshape(n, 7, SHIFTS_PER_DAY).sum(axis=1)
    city = counts.sum(axis=0) + 1.0  # +1: no shift is ever impossible
    city = city / city.sum()
    prof = counts + prior_strength * city[None, :]
    prof = prof / prof.sum(axis=1, keepdims=True)
    return np.tile(prof, (1, 7)) / 7 if cycle == SHIFTS_PER_DAY else prof


#: Prior strengths :func:`choose_shift_profile` tries, for each cycle.
PROFILE_PRIORS: tuple[float, ...] = (10.0, 30.0, 100.0, 300.0, 1000.0)


def choose_shift_profile(
    incidents: pa.Table,
    cells: pa.Table | pa.Array,
    *,
    before,
    coverage: float,
    valid_weeks: int = 13,
    window_days: float = 365.0,
    timezone: str = "UTC",
    first_shift_hour: int = 6,
    priors: tuple[float, ...] = PROFILE_PRIORS,
) -> tuple[dict | None, pd.DataFrame]:
    """The shift profile that would have placed patrols best over the ``valid_weeks`` weeks before ``before``.

    For each of those weeks, each cell's incidents of the year before the week (the plain weekly
    forecast) are split over its shifts by each candidate profile (shifts of the week or of the
    day, at each prior strength, computed as of the week's start) and by none; a candidate scores
    the share of each shift's incidents that fell in its top ``coverage`` of cells. A candidate
    qualifies when its mean gain over the even split, paired by shift, exceeds the gain's standard
    error (the champion gate's rule, :func:`jobs.grid.profiles.pick_by_margin`). Returns
    ``shift_profile``'s ``{"cycle", "prior_strength"}`` of the qualifying candidate with the largest
    gain, or ``None`` (an even split), and every candidate's scores (``cycle`` 0: the even split;
    ``hit_rate``, ``gain``, ``gain_se``). Only incidents before ``before`` are read.

    Measured on Chicago 2016-2017 (docs/forecasting.md, "Time profiles"): a cell's own profile over
    the 21 shifts of the week with 20 incidents of prior, the allocation this plan used before,
    put PAI at 1 % per shift at 7.50 where an even split gave 8.72: one year of a cell's incidents
    spread over 21 shifts is mostly noise. Which profile helps depends on the agency's data, so it is
    chosen on its own weeks.
    """
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage!r}")
    if not isinstance(valid_weeks, (int, np.integer)) or valid_weeks < 1:
        raise ValueError(f"valid_weeks must be a positive whole number, got {valid_weeks!r}")
    grid = resolve_cells(cells)
    ev = resolve_events(incidents, grid)
    n = len(grid)
    shifts = shift_index(ev.t_ns, timezone=timezone, first_shift_hour=first_shift_hour)
    monday, _ = local_week(before, timezone)
    candidates = [(0, np.inf)] + [(c, m) for c in (SHIFTS_PER_WEEK, SHIFTS_PER_DAY) for m in priors]
    rates: dict[tuple, list] = {c: [] for c in candidates}  # per candidate: each validation shift's hit rate
    for k in range(int(valid_weeks), 0, -1):
        w0 = wall_time(monday - pd.Timedelta(days=7 * k), int(first_shift_hour), timezone)
        w1 = wall_time(monday - pd.Timedelta(days=7 * (k - 1)), int(first_shift_hour), timezone)
        counts = _shift_counts(ev.cell, ev.t_ns, shifts, n, w0, window_days)
        forecast = counts.sum(axis=1)
        week = (ev.t_ns >= _cutoff_ns(w0)) & (ev.t_ns < min(_cutoff_ns(w1), _cutoff_ns(before)))
        y = np.zeros((SHIFTS_PER_WEEK, n))
        np.add.at(y, (shifts[week], ev.cell[week]), 1.0)
        for cyc, m in candidates:
            rates[(cyc, m)].append(period_hit_rates(forecast[None, :] * _profile(counts, cyc or None, m).T, y, coverage))
    rows, margins = [], []
    for cyc, m in candidates:
        own = np.concatenate(rates[(cyc, m)])
        margins.append(paired_margin(own, np.concatenate(rates[candidates[0]])))
        rows.append({"cycle": cyc, "prior_strength": m, "hit_rate": float(np.nanmean(own)),
                     "gain": margins[-1].mean, "gain_se": margins[-1].se})
    table = pd.DataFrame(rows)
    best = pick_by_margin(margins[1:])
    if best is None:
        return None, table
    return {"cycle": int(rows[best + 1]["cycle"]), "prior_strength": float(rows[best + 1]["prior_strength"])}, table


def describe_profile(choice: dict | None, table: pd.DataFrame) -> str:
    """One line for a plan's metadata: the profile chosen and the validation hit rates it was chosen on."""
    none = float(table.loc[table["cycle"] == 0, "hit_rate"].iloc[0])
    if choice is None:
        return f"no time profile: none of the {len(table) - 1} tried beat an even split by more than a standard " \
               f"error over the weeks before (even split: {100 * none:.1f} % of each shift's incidents in its cells)"
    row = table[(table["cycle"] == choice["cycle"]) & (table["prior_strength"] == choice["prior_strength"])].iloc[0]
    what = "shifts of the week" if choice["cycle"] == SHIFTS_PER_WEEK else "shifts of the day"
    return (f"each cell's profile over the {what}, prior {choice['prior_strength']:g} incidents: hit rate "
            f"{100 * float(row['hit_rate']):.1f} % over the weeks before, against {100 * none:.1f} % with an even "
            f"split ({100 * float(row['gain']):+.2f} ± {100 * float(row['gain_se']):.2f} points per shift)")


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
