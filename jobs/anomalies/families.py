"""The four families of count series that gold ``spike_alerts`` scores, from the rows of their feeds.

Each family turns one feed's rows (already read for the look-back span) into
count series with :func:`jobs.anomalies.timeseries.count_series` and scores them
with :func:`jobs.anomalies.spikes.detect_spikes`:

- ``atm_withdrawals``: ATM withdrawals (debits) per terminal per hour;
- ``cell_calls``: voice calls per cell site per hour (a sector counts for its
  site, a cell unknown to ``cell_sites`` for itself);
- ``district_crimes``: crimes per district per day (``district_daily_counts``);
- ``osint_posts``: OSINT posts per place per day (place name, else H3 cell).

A span is a look-back, not a calendar window: a baseline needs history, so a
family scores the ``days`` before its last event at or before ``as_of_end``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.anomalies.timeseries import count_series
from jobs.anomalies.spikes import SpikeParams, detect_spikes
from jobs.anomalies.schemas import SPIKES, SPIKE_ALERTS
from jobs.schemas import UTC_TS

__all__ = [
    "FAMILIES", "SEVERITIES", "SeriesFamily", "atm_series", "atm_spike_quality", "cell_call_series", "clip_span",
    "district_series", "family_counts", "new_critical", "osint_series", "places", "score_family", "severity_counts", "spike_alerts_table",
    "utc_scalar",
]

SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class SeriesFamily:
    """One family of count series scored by ``spike_alerts``, and the lakehouse table its series come from.

    ``time_col`` is the table's event time, through which the look-back span
    is read; None means the table is read whole (``district_daily_counts``:
    one row per district and day).
    """

    feed: str
    what: str
    freq: str  # hour | day
    layer: str
    table: str
    columns: tuple[str, ...]
    time_col: str | None


FAMILIES = (
    SeriesFamily("atm_withdrawals", "ATM withdrawals per terminal per hour", "hour", "silver", "transactions",
                 ("terminal_id", "occurred_at", "channel", "direction"), "occurred_at"),
    SeriesFamily("cell_calls", "voice calls per cell site per hour", "hour", "silver", "cdr_events",
                 ("cell_id", "start_time", "kind"), "start_time"),
    SeriesFamily("district_crimes", "crimes per district per day", "day", "gold", "district_daily_counts",
                 ("source", "district", "day", "incidents"), None),
    SeriesFamily("osint_posts", "OSINT posts per place per day", "day", "silver", "osint_posts",
                 ("place_name", "h3", "posted_at"), "posted_at"),
)

#: ``(series, tz, start, end)``: the count series of a family, the zone of its periods and its span (UTC).
Scored = tuple[pa.Table, str, pd.Timestamp, pd.Timestamp]


def utc_scalar(value: dt.datetime | pd.Timestamp) -> pa.Scalar:
    """A UTC timestamp scalar of the lakehouse's type, for comparisons with its time columns."""
    return pa.scalar(pd.Timestamp(value).tz_convert("UTC").to_pydatetime(), UTC_TS)


def clip_span(table: pa.Table, time_col: str, as_of_end: pd.Timestamp, days: int, freq: str, tz: str):
    """Rows at or before ``as_of_end`` in the ``days`` before the last of them; ``(rows, start, end)`` or None."""
    table = table.filter(pc.and_(pc.is_valid(table[time_col]), pc.less(table[time_col], utc_scalar(as_of_end))))
    if not table.num_rows:
        return None
    end = pd.Timestamp(pc.max(table[time_col]).as_py())
    start = end - pd.Timedelta(days=days)
    # start on a period boundary, so that the first period is a whole one
    start = start.floor("h") if freq == "hour" else start.tz_convert(tz).normalize().tz_convert("UTC")
    return table.filter(pc.greater_equal(table[time_col], utc_scalar(start))), start, end


def family_counts(family: SeriesFamily, rows: pa.Table, as_of_end: pd.Timestamp, days: int, *, tz: str,
                  h3_resolution: int = 8, cell_sites: pa.Table | None = None) -> Scored | None:
    """The count series of ``family`` from ``rows`` of its table (``family.columns``) up to ``as_of_end``.

    ``tz`` is the zone of local days and hours (``district_crimes`` counts UTC
    days whatever it is); ``h3_resolution`` and ``cell_sites`` are used by
    ``osint_posts`` and ``cell_calls``. None when no row falls in the span.
    """
    if family.feed == "atm_withdrawals":
        return atm_series(rows, as_of_end, days, tz)
    if family.feed == "cell_calls":
        return cell_call_series(rows, cell_sites, as_of_end, days, tz)
    if family.feed == "district_crimes":
        return district_series(rows, as_of_end, days)
    if family.feed == "osint_posts":
        return osint_series(rows, as_of_end, days, tz, h3_resolution)
    raise ValueError(f"unknown series family {family.feed!r}")


def atm_series(tx: pa.Table, as_of_end: pd.Timestamp, days: int, tz: str) -> Scored | None:
    """ATM withdrawals per terminal per hour from transactions (``terminal_id``, ``occurred_at``, ``channel``,
    ``direction``); a row without a direction counts as a withdrawal."""
    debit = pc.fill_null(pc.not_equal(tx["direction"], "credit"), True)
    tx = tx.filter(pc.and_(pc.equal(tx["channel"], "atm"), debit))
    clipped = clip_span(tx, "occurred_at", as_of_end, days, "hour", tz)
    if clipped is None:
        return None
    rows, start, end = clipped
    return count_series(rows, keys=["terminal_id"], time_col="occurred_at", freq="hour", tz=tz,
                        start=start, end=end), tz, start, end


def cell_call_series(cdr: pa.Table, cell_sites: pa.Table | None, as_of_end: pd.Timestamp, days: int,
                     tz: str) -> Scored | None:
    """Voice calls per cell site per hour from CDRs (``cell_id``, ``start_time``, ``kind``).

    ``cell_sites`` (``cell_id``, ``site_id``) maps sectors to their site; a
    cell it does not know (or without a site) is its own series.
    """
    cdr = cdr.filter(pc.equal(cdr["kind"], "voice"))
    clipped = clip_span(cdr, "start_time", as_of_end, days, "hour", tz)
    if clipped is None:
        return None
    rows, start, end = clipped
    site = rows["cell_id"]
    if cell_sites is not None:
        idx = pc.index_in(rows["cell_id"], value_set=cell_sites["cell_id"])
        site = pc.coalesce(pc.take(cell_sites["site_id"], idx), rows["cell_id"])
    rows = pa.table({"site_id": site, "start_time": rows["start_time"]})
    return count_series(rows, keys=["site_id"], time_col="start_time", freq="hour", tz=tz,
                        start=start, end=end), tz, start, end


def district_series(counts: pa.Table, as_of_end: pd.Timestamp, days: int) -> Scored | None:
    """Crimes per ``source|district`` per UTC day from gold ``district_daily_counts`` (``source``, ``district``,
    ``day``, ``incidents``): the ``days`` days up to the last one before ``as_of_end``."""
    d = counts.to_pandas()
    d = d.dropna(subset=["district", "day"])
    d["t"] = pd.to_datetime(d["day"]).dt.tz_localize("UTC")
    d = d[d["t"] < as_of_end]
    if d.empty:
        return None
    end = d["t"].max()
    start = end - pd.Timedelta(days=days - 1)
    d = d[d["t"] >= start]
    g = d.groupby(["source", "district", "t"], as_index=False)["incidents"].sum()
    series = pa.table({"series_key": (g["source"].astype(str) + "|" + g["district"].astype(str)).to_numpy(object),
                       "period_start": pa.array(g["t"], UTC_TS),
                       "count": pa.array(g["incidents"].to_numpy(np.int64))})
    return series, "UTC", start, end + pd.Timedelta(days=1)  # days are UTC days (district_daily_counts)


def osint_series(posts: pa.Table, as_of_end: pd.Timestamp, days: int, tz: str, h3_resolution: int) -> Scored | None:
    """OSINT posts per place per day from posts (``place_name``, ``h3``, ``posted_at``); see :func:`places`."""
    clipped = clip_span(posts, "posted_at", as_of_end, days, "day", tz)
    if clipped is None:
        return None
    rows, start, end = clipped
    rows = rows.append_column("place", places(rows, h3_resolution))
    return count_series(rows, keys=["place"], time_col="posted_at", freq="day", tz=tz,
                        start=start, end=end), tz, start, end


def places(posts: pa.Table, resolution: int) -> pa.Array:
    """A post's place: its place name, else ``h3:<cell>`` at ``resolution`` from its H3 index, else null."""
    import h3

    cells = pc.unique(posts["h3"].drop_null()).to_pylist()
    parents = {c: f"h3:{h3.cell_to_parent(c, min(resolution, h3.get_resolution(c)))}" for c in cells}
    by_cell = pa.array([parents.get(c) for c in posts["h3"].to_pylist()], pa.string())
    return pc.coalesce(posts["place_name"], by_cell)


def score_family(series: pa.Table, family: SeriesFamily, tz: str, params: SpikeParams) -> pa.Table:
    """Every window of the series that alerted at least once, as :data:`SPIKE_ALERTS` rows (without ``as_of_date``)."""
    spikes = detect_spikes(series, params, freq=family.freq, tz=tz)
    alerted = pc.unique(spikes.filter(spikes["alert"])["series_key"])
    spikes = spikes.filter(pc.is_in(spikes["series_key"], value_set=alerted))
    n = spikes.num_rows
    return pa.table({"feed": pa.array([family.feed] * n, pa.string()),
                     "freq": pa.array([family.freq] * n, pa.string()),
                     **{f.name: spikes[f.name] for f in SPIKES}})


def atm_spike_quality(spike_alerts: pa.Table, truth_atm_spikes: pa.Table, start: pd.Timestamp,
                      end: pd.Timestamp) -> dict[str, float]:
    """Precision/recall of the ATM alerts of ``spike_alerts`` rows against the planted ``truth/atm_spikes``
    windows inside the scored span ``[start, end)`` (:func:`jobs.anomalies.scoring.spike_alert_quality`)."""
    from jobs.anomalies.scoring import atm_truth_windows, spike_alert_quality

    truth = atm_truth_windows(truth_atm_spikes)
    truth = truth.filter(pc.and_(pc.less(truth["window_start"], utc_scalar(end)),
                                 pc.greater(truth["window_end"], utc_scalar(start))))
    atm = spike_alerts.filter(pc.and_(pc.equal(spike_alerts["feed"], "atm_withdrawals"), spike_alerts["alert"]))
    return spike_alert_quality(atm, truth)


def spike_alerts_table(day: dt.date, scored: list[pa.Table]) -> pa.Table:
    """Gold ``spike_alerts`` rows of scoring day ``day`` from the :func:`score_family` tables of its families."""
    body = pa.concat_tables(scored) if scored else SPIKE_ALERTS.remove(0).empty_table()
    return pa.table({"as_of_date": pa.array([day] * body.num_rows, pa.date32()),
                     **{n: body[n] for n in body.column_names}}, schema=SPIKE_ALERTS)


def severity_counts(alerts: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{feed: {critical: n, warning: n, info: n}}`` over alert rows, plus ``all``."""
    out = {}
    for feed, rows in [*alerts.groupby("feed"), ("all", alerts)]:
        out[str(feed)] = {s: int((rows["severity"] == s).sum()) for s in SEVERITIES}
    return out


def new_critical(critical: pd.DataFrame, day: dt.date) -> tuple[pd.DataFrame, dt.date | None]:
    """Critical alerts of scoring day ``day`` absent from the previous scoring day's (same feed, series, window).

    ``critical`` holds the critical alert rows of ``spike_alerts`` up to
    ``day``. Returns the new alerts and the previous scoring day (None when
    ``day`` is the first).
    """
    now = critical[critical["as_of_date"] == day]
    earlier = critical[critical["as_of_date"] < day]
    previous = earlier["as_of_date"].max() if len(earlier) else None
    if previous is None:
        return now, None
    seen = earlier[earlier["as_of_date"] == previous][["feed", "series_key", "window_start"]]
    merged = now.merge(seen.assign(_seen=True), on=["feed", "series_key", "window_start"], how="left")
    return merged[merged["_seen"].isna()].drop(columns="_seen"), previous
