"""Local time: UTC instants as the days people read them, in a feed's IANA time zone.

The lake stores instants in UTC. Where a person reads a time (reports, maps, the
CLI, the BI views' ``*_local`` columns) it is shown in the time zone of the feed's
study area (:attr:`jobs.ingest.spec.SourceSpec.local_timezone`): Chicago's day
2017-12-31 ends at 06:00 UTC on 2018-01-01, and an incident at 23:30 local time
belongs to December, not January.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["day_label", "local_dates", "local_days", "local_week", "span_label", "wall_time", "week_label"]


def utc_timestamp(value, name: str) -> pd.Timestamp:
    """``value`` (a date-time, ISO 8601 text or Timestamp; naive means UTC) as a tz-aware UTC Timestamp; a
    ValueError naming ``name`` when it is not a date-time."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not a valid date-time (ISO 8601 expected): {value!r}") from exc
    if ts is pd.NaT:
        raise ValueError(f"{name} is not a valid date-time (ISO 8601 expected): {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def local_days(ts: pa.ChunkedArray | pa.Array, tz: str) -> np.ndarray:
    """Whole-day numbers (days since 1970-01-01) of UTC timestamps, counted in time zone ``tz``."""
    local = pc.local_timestamp(pc.cast(ts, pa.timestamp("us", tz=tz)))
    return pc.cast(pc.cast(local, pa.date32()), pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)


def local_dates(ts: pa.ChunkedArray | pa.Array, keys: pa.ChunkedArray | pa.Array, zones: dict[str, str],
                default: str = "UTC") -> tuple[pa.Array, pa.Array]:
    """The local date of each timestamp in the time zone of its row's key, and that zone's name.

    Parameters
    ----------
    ts
        UTC timestamps (nulls stay null).
    keys
        One key per row (a feed's name), looked up in ``zones``.
    zones
        Key -> IANA time zone; keys not in it use ``default``.
    """
    if len(ts) != len(keys):
        raise ValueError(f"{len(ts)} timestamps but {len(keys)} keys")
    key_values = pc.cast(keys, pa.string()).to_numpy(zero_copy_only=False)
    zone_of = np.array([zones.get(k, default) if k is not None else default for k in key_values], dtype=object) \
        if len(key_values) else np.array([], dtype=object)
    days = np.zeros(len(ts), dtype=np.int64)
    valid = pc.is_valid(ts).to_numpy(zero_copy_only=False)
    for zone in sorted(set(zone_of.tolist())):
        rows = np.flatnonzero((zone_of == zone) & valid)
        if rows.size:
            days[rows] = local_days(pc.take(ts, pa.array(rows)), zone)
    out = pa.array(days.astype("datetime64[D]"), pa.date32(), mask=~valid if len(valid) else None)
    return out, pa.array(zone_of.tolist(), pa.string())


# -- labels a person reads: weeks and shifts in the study area's local calendar -----------------

def local_week(week_start, tz: str) -> tuple["pd.Timestamp", "pd.Timestamp"]:
    """First and last local calendar day (naive midnights) of the week named by ``week_start``.

    The lake's weeks are named by their Monday's date (partition ``2018-01-01``, which starts at
    Monday 00:00 UTC); people read that week as Monday 1 January to Sunday 7 January in the study
    area's zone, whatever the zone's offset (``tz`` only checks the name here).
    """
    import pandas as pd
    from zoneinfo import ZoneInfo

    ZoneInfo(tz)  # an unknown zone fails here, not in a label later
    ts = pd.Timestamp(week_start)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    monday = ts.normalize()
    return monday, monday + pd.Timedelta(days=6)


def day_label(day, *, year: bool = False) -> str:
    """``Mon 1 Jan`` (``Mon 1 Jan 2018`` with ``year``) of a date or timestamp, as given (no conversion)."""
    import pandas as pd

    d = pd.Timestamp(day)
    return f"{d:%a} {d.day} {d:%b}" + (f" {d.year}" if year else "")


def week_label(week_start, tz: str) -> str:
    """``week of Mon 1 Jan 2018 – Sun 7 Jan 2018 (America/Chicago)``: the week in local dates."""
    first, last = local_week(week_start, tz)
    return f"week of {day_label(first, year=True)} – {day_label(last, year=True)} ({tz})"


def wall_time(day, hours: float, tz: str) -> "pd.Timestamp":
    """The instant (in ``tz``) at local wall-clock time ``day`` 00:00 + ``hours``.

    Counted on the wall clock, so a shift at 06:00 stays at 06:00 across a daylight-saving change;
    a time that does not exist (spring forward) moves forward, an ambiguous one takes the first.
    """
    import pandas as pd

    naive = pd.Timestamp(day).tz_localize(None).normalize() + pd.Timedelta(hours=float(hours))
    return naive.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")


def span_label(start, hours: float = 8) -> str:
    """``Mon 1 Jan 06:00–14:00`` of a local start time and a length on the wall clock."""
    import pandas as pd

    s = pd.Timestamp(start)
    naive = s.tz_localize(None) if s.tzinfo is not None else s
    end = naive + pd.Timedelta(hours=float(hours))
    return f"{day_label(naive)} {naive:%H:%M}–{end:%H:%M}"
