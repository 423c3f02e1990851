"""The calls and SMS between phones, in time order and in the feed's local time.

A link on a chart is a sum (12 calls, 3 SMS); an analyst asks when: at night, just before the
incident, every day at 9. :func:`contact_events` keeps the CDR rows that make links (one row per
call: an operator's mirrored ``in`` row dropped, as :func:`jobs.links.edges.aggregate_edges` does)
and :func:`pair_timeline` those of two phones, with their local time.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.links.edges import drop_mirrored, edge_rows
from jobs.links.inputs import require_columns
from jobs.localtime import utc_timestamp
from jobs.schemas import UTC_TS

__all__ = ["TIMELINE_COLUMNS", "contact_events", "duration_label", "pair_timeline", "time_label"]

#: Columns of :func:`pair_timeline` (``local_time`` is in the time zone asked for).
TIMELINE_COLUMNS = ["start_time", "local_time", "caller", "callee", "kind", "duration_s"]


def contact_events(cdr: pa.Table, phones: Sequence[str] | None = None, *, start=None, end=None,
                   kinds: Sequence[str] = ("voice", "sms")) -> pa.Table:
    """The calls and SMS of ``cdr`` between two of ``phones`` (all when None), once each, by time.

    Returns ``start_time``, ``caller``, ``callee``, ``kind`` and ``duration_s`` (0 when null), with
    ``start <= start_time < end`` when given.
    """
    require_columns(cdr, ["caller", "callee", "start_time", "kind"], "cdr")
    cols = [c for c in ("caller", "callee", "start_time", "kind", "duration_s", "direction") if c in cdr.column_names]
    rows = edge_rows(cdr.select(cols), kinds)
    if phones is not None:
        if isinstance(phones, str):
            raise TypeError("phones must be a list of phones, not one string")
        vs = pa.array(list(dict.fromkeys(phones)), pa.string())
        rows = rows.filter(pc.and_(pc.is_in(rows["caller"], value_set=vs), pc.is_in(rows["callee"], value_set=vs)))
    t = rows["start_time"].cast(UTC_TS)
    if start is not None:
        rows = rows.filter(pc.greater_equal(t, pa.scalar(utc_timestamp(start, "start"), UTC_TS)))
        t = rows["start_time"].cast(UTC_TS)
    if end is not None:
        rows = rows.filter(pc.less(t, pa.scalar(utc_timestamp(end, "end"), UTC_TS)))
    if "direction" in rows.column_names:
        rows = drop_mirrored(rows)
    duration = (pc.fill_null(pc.cast(rows["duration_s"], pa.int64()), 0) if "duration_s" in rows.column_names
                else pa.array([0] * rows.num_rows, pa.int64()))
    out = pa.table({"start_time": rows["start_time"].cast(UTC_TS), "caller": rows["caller"].cast(pa.string()),
                    "callee": rows["callee"].cast(pa.string()), "kind": rows["kind"].cast(pa.string()),
                    "duration_s": duration})
    return out.sort_by([("start_time", "ascending"), ("caller", "ascending"), ("callee", "ascending")])


def pair_timeline(cdr: pa.Table, a: str, b: str, *, timezone: str = "UTC", start=None, end=None) -> pa.Table:
    """Every call and SMS between ``a`` and ``b`` (either way), oldest first.

    Parameters
    ----------
    cdr
        ``CDR_EVENTS`` rows (silver, pseudonymised).
    a, b
        The two phones (pseudonyms as the lake stores them).
    timezone
        IANA zone of ``local_time`` (the feed's :attr:`jobs.ingest.spec.SourceSpec.local_timezone`).
    start, end
        Optional window, ``start <= start_time < end``.

    Returns
    -------
    pyarrow.Table
        :data:`TIMELINE_COLUMNS`: the UTC instant, the same instant in ``timezone``, who called or
        texted whom, ``voice`` or ``sms``, and the duration in seconds.
    """
    if a == b:
        raise ValueError(f"a timeline needs two different phones, got {a!r} twice")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone {timezone!r} is not an IANA time zone (e.g. America/Chicago)") from exc
    ev = contact_events(cdr, [a, b], start=start, end=end)
    local = pc.cast(ev["start_time"], pa.timestamp("us", tz=timezone))
    return pa.table({"start_time": ev["start_time"], "local_time": local, "caller": ev["caller"],
                     "callee": ev["callee"], "kind": ev["kind"], "duration_s": ev["duration_s"]})


def time_label(ts, timezone: str, *, year: bool = False) -> str:
    """``Mon 11 Dec 14:05:07`` (``Mon 11 Dec 2017 14:05:07`` with ``year``) of an instant in ``timezone``."""
    t = pd.Timestamp(ts)
    t = (t.tz_localize("UTC") if t.tzinfo is None else t).tz_convert(timezone)
    return f"{t:%a} {t.day} {t:%b}" + (f" {t.year}" if year else "") + f" {t:%H:%M:%S}"


def duration_label(seconds: int | float | None) -> str:
    """``4:07`` (minutes:seconds), ``1:02:03`` above an hour, ``–`` for none."""
    if seconds is None or seconds <= 0:
        return "–"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
