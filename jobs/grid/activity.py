"""Activity of the other feeds per H3 cell and period, for ``cell_features``' ``extra_counts`` hook.

Counts gold ``events`` rows of each non-incident origin (CDR records, card/ATM
transactions, geotagged OSINT posts, camera detections) per parent cell and
period. ``cell_features`` lags them: a count keyed to period ``p`` is first read
by period ``p + 1``, so no period's features see its own or later activity.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.grid.cell_features import period_grid, timestamps_ns
from jobs.grid.cells import _check_resolution, cells_to_uint64, parent_uint64, uint64_to_cells

#: ``events.origin`` -> feature name stem in ``cell_features`` (``<name>_lag_1``, ``<name>_roll_<w>``).
ACTIVITY_ORIGINS: dict[str, str] = {
    "cdr_events": "cdr_activity",
    "transactions": "transaction_volume",
    "osint_posts": "osint_volume",
    "detections": "camera_detections",
}
#: Origins whose feature is returned only when the events hold rows of it (cameras are optional).
OPTIONAL_ORIGINS: frozenset[str] = frozenset({"detections"})


def activity_counts(
    events: pa.Table,
    *,
    resolution: int = 9,
    freq: str | pd.Timedelta = "W",
    anchor: pd.Timestamp | str | None = None,
    origins: Mapping[str, str] | None = None,
    timezone: str = "UTC",
) -> dict[str, pa.Table]:
    """Count events per origin, H3 parent cell at ``resolution`` and period start.

    Parameters
    ----------
    events
        Gold ``events`` rows (:data:`jobs.fusion.schemas.EVENTS`); needs ``origin``,
        ``occurred_at`` (timestamp) and ``h3`` (resolution >= ``resolution``).
        Rows with a null ``h3`` or time are ignored.
    resolution
        H3 resolution of the output cells (that of ``cell_features``' cells).
    freq, anchor, timezone
        Period grid, as :func:`jobs.grid.cell_features.period_grid` (the same values
        ``cell_features`` gets: periods start at local boundaries of ``timezone``).
    origins
        ``{origin: feature name}``; default :data:`ACTIVITY_ORIGINS`. Every origin gets a
        table (empty when it has no rows, so training and scoring tables share
        columns), except the optional ``detections``, which appears only when present.

    Returns
    -------
    dict of str to pyarrow.Table
        ``{name: Table(h3 string, period_start timestamp[us, UTC], value float64)}``, one row per
        cell and period with at least one event, sorted by period then cell; pass it as
        ``cell_features(..., extra_counts=...)``.

    Notes
    -----
    Counts are a ``groupby`` over (parent cell, period index) with H3 parents taken
    on the 64-bit index (Uber H3 v4, ``cellToParent``). Leakage is handled where the
    counts are read: ``cell_features`` uses only periods before a row's period.
    """
    _check_resolution(resolution)
    for col in ("origin", "occurred_at", "h3"):
        if col not in events.column_names:
            raise ValueError(f"events needs column {col!r} (gold events); found {events.column_names}")
    names = dict(ACTIVITY_ORIGINS if origins is None else origins)
    pg = period_grid(freq, anchor, timezone)
    keep = pc.and_(pc.is_valid(events["occurred_at"]), pc.is_valid(events["h3"]))
    ev = events.select(["origin", "occurred_at", "h3"]).filter(keep)
    origin = np.asarray(ev["origin"].to_numpy(zero_copy_only=False), dtype=object)
    raw, valid = cells_to_uint64(ev["h3"])
    res = ((raw[valid] >> np.uint64(52)) & np.uint64(0xF)).astype(int)
    if res.size and res.min() < resolution:
        raise ValueError(f"events h3 has cells at resolution {int(res.min())}, coarser than resolution={resolution}")
    parent = np.zeros_like(raw)
    parent[valid] = parent_uint64(raw[valid], resolution)
    period = pg.index_of(timestamps_ns(ev["occurred_at"])) if ev.num_rows else np.zeros(0, np.int64)
    out: dict[str, pa.Table] = {}
    for org, name in names.items():
        m = (origin == org) & valid
        if not m.any() and org in OPTIONAL_ORIGINS:
            continue
        df = pd.DataFrame({"cell": parent[m], "p": period[m]})
        g = df.groupby(["p", "cell"], sort=True).size().reset_index(name="value")
        cells = g["cell"].to_numpy(np.uint64)
        starts = pg.start_ns(g["p"].to_numpy(np.int64))
        out[name] = pa.table({
            "h3": uint64_to_cells(cells).cast(pa.string()),
            "period_start": pa.array(starts, pa.int64()).cast(pa.timestamp("ns", tz="UTC")).cast(pa.timestamp("us", tz="UTC")),
            "value": pa.array(g["value"].to_numpy(np.float64)),
        })
    return out
