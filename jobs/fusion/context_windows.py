"""Time windows of ``incident_context``: which incidents a changed record reaches, and incident groups.

An incident's context rows depend on the incident and on the candidate records
inside its window: from the largest ``*_before_s`` before it to the largest
``*_after_s`` after it over the relations (:class:`jobs.fusion.context.ContextSettings`).
So a candidate record at time ``t`` can change the context of incidents between
``t - after`` and ``t + before`` only, and incidents further apart than
``before + after`` never share a candidate. Times are int64 microseconds since
the epoch (UTC) throughout.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.fusion.arrow_ops import ts_us

_S = 1_000_000  # microseconds per second
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def widest_window(settings) -> tuple[int, int]:
    """``(before_s, after_s)``: the largest window of any relation on either side of an incident."""
    before = max(settings.tower_before_s, settings.txn_before_s, settings.post_before_s, settings.place_before_s,
                 settings.camera_before_s, settings.mention_before_s)
    after = max(settings.tower_after_s, settings.txn_after_s, settings.post_after_s, settings.place_after_s,
                settings.camera_after_s, settings.mention_after_s)
    return before, after


def epoch_us(value: dt.datetime) -> int:
    """A time-zone-aware datetime as microseconds since the epoch (how scope bounds are stored as watermarks)."""
    return int((value - _EPOCH) / dt.timedelta(microseconds=1))


def time_clusters(t_us: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Times grouped where consecutive ones (sorted) lie within ``gap`` seconds: ``[(first, last), ...]``."""
    if not len(t_us):
        return []
    t = np.sort(t_us)
    cuts = list(np.flatnonzero(np.diff(t) > gap * _S) + 1) + [len(t)]
    out, start = [], 0
    for end in cuts:
        out.append((int(t[start]), int(t[end - 1])))
        start = end
    return out


def reached_ranges(times: pa.Array | pa.ChunkedArray, settings) -> list[tuple[int, int]]:
    """Ranges ``[lo, hi]`` (us) of incident times whose windows hold one of the candidate ``times``."""
    before, after = widest_window(settings)
    return [(t[0] - after * _S, t[1] + before * _S) for t in time_clusters(ts_us(times), gap=before + after)]


def incidents_reached(scope: pa.Table, changed_ids: list[str], reach: list[tuple[int, int]]) -> pa.Table:
    """The incidents of ``scope`` that changed themselves or whose time lies in one of the ``reach`` ranges."""
    t_us = ts_us(scope["occurred_at"])
    mask = pc.is_in(scope["incident_id"], value_set=pa.array(changed_ids, pa.string())).to_numpy(zero_copy_only=False)
    mask = np.asarray(mask, dtype=bool)
    for lo, hi in reach:
        mask |= (t_us >= lo) & (t_us <= hi)
    return scope.filter(pa.array(mask))


def context_windows(incidents: pa.Table, settings) -> list[tuple[pa.Table, dt.datetime, dt.datetime]]:
    """Incidents grouped so their windows do not overlap, each with the candidate time range it needs."""
    before, after = widest_window(settings)
    if not incidents.num_rows:
        return []
    inc = incidents.sort_by("occurred_at")
    t = ts_us(inc["occurred_at"])
    out, start = [], 0
    cuts = list(np.flatnonzero(np.diff(t) > (before + after) * _S) + 1) + [len(t)]
    for end in cuts:
        lo = _EPOCH + dt.timedelta(microseconds=int(t[start]) - before * _S)
        hi = _EPOCH + dt.timedelta(microseconds=int(t[end - 1]) + after * _S)
        out.append((inc.slice(start, end - start), lo, hi))
        start = end
    return out
