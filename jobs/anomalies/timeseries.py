"""Count series with explicit zero-filling of periods without events.

Turns an event table (incidents, transactions, CDRs, OSINT posts) into one count
per series and period: crimes per district per day, withdrawals per ATM per hour,
calls per cell site per hour, posts per place per day. Periods without events are
written as explicit zeros so that a baseline sees quiet days as data, not as gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.localtime import utc_timestamp
from jobs.schemas import UTC_TS

Freq = Literal["hour", "day"]

#: Separator between key values in ``series_key``.
KEY_SEPARATOR = "|"

#: Schema of the value columns every count series table carries (key columns come first).
SERIES_VALUE_FIELDS = [
    pa.field("period_start", UTC_TS, nullable=False),
    pa.field("period_end", UTC_TS, nullable=False),
    pa.field("count", pa.int64(), nullable=False),
]


def _ns(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Epoch nanoseconds of tz-aware times, whatever their unit."""
    idx = pd.DatetimeIndex(times).tz_convert("UTC").as_unit("ns")
    return idx.asi8


def _check_freq(freq: str) -> None:
    if freq not in ("hour", "day"):
        raise ValueError(f"freq must be 'hour' or 'day', got {freq!r}")


def bin_times(times: pd.Series, *, freq: Freq, tz: str = "UTC") -> pd.Series:
    """Floor UTC timestamps to the start of their period, returned in UTC.

    Days are local calendar days in ``tz`` (a day starting at local midnight);
    hours are UTC hours, which coincide with local hours in every zone with a
    whole-hour offset.
    """
    _check_freq(freq)
    t = pd.to_datetime(times, utc=True)
    if freq == "hour":
        return t.dt.floor("h")
    local = t.dt.tz_convert(tz).dt.tz_localize(None).dt.floor("D")
    return local.dt.tz_localize(tz, ambiguous=False, nonexistent="shift_forward").dt.tz_convert("UTC")


def period_starts(start: pd.Timestamp, end: pd.Timestamp, *, freq: Freq, tz: str = "UTC") -> pd.DatetimeIndex:
    """Every period start (UTC) from the period holding ``start`` to the one holding ``end``, plus the end bound.

    Returns ``n + 1`` edges: ``edges[i]`` is the start of period ``i`` and
    ``edges[i + 1]`` its end (local days can last 23 or 25 hours).
    """
    _check_freq(freq)
    s = bin_times(pd.Series([pd.Timestamp(start)]), freq=freq, tz=tz).iloc[0]
    e = bin_times(pd.Series([pd.Timestamp(end)]), freq=freq, tz=tz).iloc[0]
    if e < s:
        raise ValueError(f"end {end} is before start {start}")
    if freq == "hour":
        return pd.date_range(s, e + pd.Timedelta(hours=1), freq="h")
    ls, le = s.tz_convert(tz).tz_localize(None), e.tz_convert(tz).tz_localize(None)
    naive = pd.date_range(ls, le + pd.Timedelta(days=1), freq="D")
    return naive.tz_localize(tz, ambiguous=False, nonexistent="shift_forward").tz_convert("UTC")


def count_series(
    table: pa.Table,
    *,
    keys: Sequence[str],
    time_col: str,
    freq: Freq = "day",
    tz: str = "UTC",
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    span: Literal["global", "per_series"] = "global",
) -> pa.Table:
    """Count rows per series and period, writing explicit zeros for empty periods.

    Parameters
    ----------
    table : pyarrow.Table
        Event rows, e.g. ``incidents``, ``transactions``, ``cdr_events``.
    keys : sequence of str
        Columns that name a series (``["district"]``, ``["terminal_id"]``,
        ``["cell_id"]``). Rows with a null key or time are not counted.
    time_col : str
        Timestamp column (UTC).
    freq : {"day", "hour"}
        Period length. Days are local calendar days in ``tz``.
    tz : str
        IANA time zone for day boundaries.
    start, end : timestamp or str, optional
        First and last instant to cover; default the span of the data. Rows
        outside are dropped.
    span : {"global", "per_series"}
        ``global``: every series covers every period from ``start`` to ``end``,
        so a series with no event in a period gets a zero (a new ATM before its
        first withdrawal reads as zeros). ``per_series``: each series covers
        only its own first to last period.

    Returns
    -------
    pyarrow.Table
        ``series_key`` (key values joined by ``|``), the key columns,
        ``period_start``, ``period_end`` (UTC) and ``count`` (int64), sorted by
        series then period.
    """
    keys = list(keys)
    if not keys:
        raise ValueError("keys must name at least one column")
    missing = [c for c in [*keys, time_col] if c not in table.column_names]
    if missing:
        raise ValueError(f"columns {missing} not in table; available: {table.column_names}")
    if span not in ("global", "per_series"):
        raise ValueError(f"span must be 'global' or 'per_series', got {span!r}")
    _check_freq(freq)
    df = table.select([*keys, time_col]).to_pandas()
    df = df.dropna(subset=[*keys, time_col])
    times = pd.to_datetime(df[time_col], utc=True)
    start = utc_timestamp(start, "start") if start is not None else None
    end = utc_timestamp(end, "end") if end is not None else None
    keep = np.ones(len(df), dtype=bool)
    if start is not None:
        keep &= (times >= start).to_numpy()
    if end is not None:
        keep &= (times <= end).to_numpy()
    df, times = df[keep], times[keep]
    key_fields = [table.schema.field(k) for k in keys]
    out_schema = pa.schema([pa.field("series_key", pa.string(), nullable=False), *key_fields, *SERIES_VALUE_FIELDS])
    if len(df) == 0 and (start is None or end is None):
        return out_schema.empty_table()
    lo = start if start is not None else times.min()
    hi = end if end is not None else times.max()
    edges = period_starts(lo, hi, freq=freq, tz=tz)
    n_periods = len(edges) - 1
    binned = bin_times(times, freq=freq, tz=tz)
    pidx = np.searchsorted(_ns(edges), _ns(binned), side="right") - 1
    codes, uniques = pd.MultiIndex.from_frame(df[keys]).factorize() if len(keys) > 1 else pd.factorize(df[keys[0]])
    if len(keys) > 1:
        key_frame = pd.DataFrame(list(uniques), columns=keys)
    else:
        key_frame = pd.DataFrame({keys[0]: np.asarray(uniques)})
    order = np.lexsort([np.arange(len(key_frame))] + [key_frame[k].astype(str).to_numpy() for k in reversed(keys)])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    key_frame = key_frame.iloc[order].reset_index(drop=True)
    codes = rank[codes]
    n_series = len(key_frame)
    counts = np.bincount(codes * n_periods + pidx, minlength=n_series * n_periods).reshape(n_series, n_periods)
    if span == "per_series":
        first = np.full(n_series, n_periods, dtype=np.int64)
        last = np.full(n_series, -1, dtype=np.int64)
        np.minimum.at(first, codes, pidx)
        np.maximum.at(last, codes, pidx)
        cols = np.arange(n_periods)
        mask = (cols[None, :] >= first[:, None]) & (cols[None, :] <= last[:, None])
    else:
        mask = np.ones((n_series, n_periods), dtype=bool)
    s_idx, p_idx = np.nonzero(mask)
    skey = key_frame[keys[0]].astype(str)
    for k in keys[1:]:
        skey = skey + KEY_SEPARATOR + key_frame[k].astype(str)
    starts = _ns(edges)[:-1] // 1000
    ends = _ns(edges)[1:] // 1000
    cols = {
        "series_key": pa.array(skey.to_numpy()[s_idx], pa.string()),
        **{k: pa.array(key_frame[k].to_numpy()[s_idx], type=f.type) for k, f in zip(keys, key_fields)},
        "period_start": pa.array(starts[p_idx], UTC_TS),
        "period_end": pa.array(ends[p_idx], UTC_TS),
        "count": pa.array(counts[s_idx, p_idx].astype(np.int64), pa.int64()),
    }
    return pa.table(cols, schema=out_schema)
