"""The series families of spike_alerts: look-back spans, places, district series, new critical alerts."""

from __future__ import annotations

import datetime as dt

import h3
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jobs.anomalies.families import (FAMILIES, atm_series, cell_call_series, clip_span, district_series, family_counts,
                                     new_critical, places, severity_counts, spike_alerts_table)
from jobs.anomalies.schemas import SPIKE_ALERTS
from jobs.schemas import UTC_TS

UTC = dt.timezone.utc
END = pd.Timestamp("2024-03-10", tz="UTC")  # end of the scoring day's span (exclusive)


def _times(*iso: str) -> pa.Array:
    return pa.array([dt.datetime.fromisoformat(t).replace(tzinfo=UTC) for t in iso], UTC_TS)


@pytest.mark.parametrize(
    ("times", "days", "freq", "kept", "start"),
    [
        # rows at or after as_of_end are dropped; the span ends at the last row left
        (["2024-03-09 10:30", "2024-03-10 01:00"], 2, "hour", 1, "2024-03-07 10:00"),
        # hourly spans start on a whole hour, daily ones at local midnight (Chicago: 06:00 UTC in March)
        (["2024-03-01 05:00", "2024-03-08 10:30", "2024-03-09 10:30"], 2, "day", 2, "2024-03-07 06:00"),
        ([], 2, "hour", None, None),
        (["2024-03-11 00:00"], 2, "hour", None, None),
    ],
)
def test_clip_span(times, days, freq, kept, start):
    table = pa.table({"t": _times(*times)})
    got = clip_span(table, "t", END, days, freq, "America/Chicago")
    if kept is None:
        assert got is None
        return
    rows, s, e = got
    assert rows.num_rows == kept
    assert s == pd.Timestamp(start, tz="UTC") and e <= END


def test_places_prefer_the_name_then_the_h3_parent():
    cell = h3.latlng_to_cell(41.88, -87.63, 10)
    posts = pa.table({"place_name": ["Navy Pier", None, None], "h3": [cell, cell, None]})
    assert places(posts, 8).to_pylist() == ["Navy Pier", f"h3:{h3.cell_to_parent(cell, 8)}", None]


def test_atm_series_counts_withdrawals_only():
    tx = pa.table({"terminal_id": ["T1", "T1", "T1", "T2"],
                   "occurred_at": _times("2024-03-09 10:05", "2024-03-09 10:40", "2024-03-09 11:00", "2024-03-09 10:10"),
                   "channel": ["atm", "atm", "atm", "card"], "direction": ["debit", None, "credit", "debit"]})
    series, tz, start, end = atm_series(tx, END, 1, "UTC")
    counts = {(k, t.hour): c for k, t, c in zip(*(series[n].to_pylist() for n in ("series_key", "period_start", "count")))}
    assert counts[("T1", 10)] == 2 and "T2" not in {k for k, _ in counts}  # a credit and a card payment are no withdrawal


def test_cell_calls_count_per_site():
    cdr = pa.table({"cell_id": ["c1", "c2", "c9"], "start_time": _times("2024-03-09 10:05", "2024-03-09 10:06", "2024-03-09 10:07"),
                    "kind": ["voice", "voice", "voice"]})
    sites = pa.table({"cell_id": ["c1", "c2"], "site_id": ["S", "S"]})
    series = cell_call_series(cdr, sites, END, 1, "UTC")[0]
    at_10 = {k: c for k, t, c in zip(*(series[n].to_pylist() for n in ("series_key", "period_start", "count"))) if t.hour == 10}
    assert at_10 == {"S": 2, "c9": 1}  # a cell cell_sites does not know is its own series


def test_district_series_are_utc_days_of_the_span():
    counts = pa.table({"source": ["chicago"] * 4, "district": ["001", "001", "002", None],
                       "day": [dt.date(2024, 3, 1), dt.date(2024, 3, 9), dt.date(2024, 3, 9), dt.date(2024, 3, 9)],
                       "incidents": [5, 3, 4, 9]})
    series, tz, start, end = district_series(counts, END, 2)
    assert tz == "UTC" and start == pd.Timestamp("2024-03-08", tz="UTC") and end == END
    assert sorted(zip(series["series_key"].to_pylist(), series["count"].to_pylist())) == [("chicago|001", 3), ("chicago|002", 4)]


def test_family_counts_dispatches_on_the_feed():
    osint = next(f for f in FAMILIES if f.feed == "osint_posts")
    posts = pa.table({"place_name": ["A", "A"], "h3": [None, None], "posted_at": _times("2024-03-09 10:00", "2024-03-09 12:00")})
    series = family_counts(osint, posts, END, 3, tz="UTC")[0]
    assert pc.sum(series["count"]).as_py() == 2
    with pytest.raises(ValueError, match="unknown series family"):
        family_counts(type(osint)("x", "x", "day", "silver", "x", (), None), posts, END, 3, tz="UTC")


def _alerts(rows):
    return pd.DataFrame(rows, columns=["as_of_date", "feed", "series_key", "window_start", "severity"])


@pytest.mark.parametrize(
    ("rows", "new", "previous"),
    [
        ([(dt.date(2024, 3, 9), "f", "a", 1, "critical")], 1, None),  # the first scoring day: every alert is new
        ([(dt.date(2024, 3, 8), "f", "a", 1, "critical"), (dt.date(2024, 3, 9), "f", "a", 1, "critical"),
          (dt.date(2024, 3, 9), "f", "b", 1, "critical")], 1, dt.date(2024, 3, 8)),
        # only the previous scoring day counts, not older ones
        ([(dt.date(2024, 3, 7), "f", "a", 1, "critical"), (dt.date(2024, 3, 8), "f", "b", 1, "critical"),
          (dt.date(2024, 3, 9), "f", "a", 1, "critical")], 1, dt.date(2024, 3, 8)),
    ],
)
def test_new_critical(rows, new, previous):
    got, prev = new_critical(_alerts(rows), dt.date(2024, 3, 9))
    assert len(got) == new and prev == previous


def test_severity_counts_and_gold_rows():
    counts = severity_counts(_alerts([(None, "atm", "a", 1, "critical"), (None, "osint", "b", 1, "info")]))
    assert counts["all"] == {"critical": 1, "warning": 0, "info": 1} and counts["atm"]["critical"] == 1
    empty = spike_alerts_table(dt.date(2024, 3, 9), [])
    assert empty.num_rows == 0 and empty.schema.equals(SPIKE_ALERTS)
