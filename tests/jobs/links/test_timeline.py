"""The calls and SMS between two phones: once each, in time order, in the feed's local time."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from jobs.links.timeline import TIMELINE_COLUMNS, contact_events, duration_label, pair_timeline, time_label
from jobs.schemas import UTC_TS

UTC = dt.timezone.utc


def t(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2017, 12, day, hour, minute, tzinfo=UTC)


# (caller, callee, start, kind, duration, direction)
ROWS = [
    ("A", "B", t(25, 3), "voice", 125, "out"),
    ("A", "B", t(25, 3), "voice", 125, "in"),  # the operator's mirror of the row above: counted once
    ("B", "A", t(26, 15, 30), "sms", None, "out"),
    ("A", "C", t(25, 4), "voice", 30, "out"),  # another pair
    ("A", None, t(25, 5), "data", 600, "out"),  # a data session: no callee
    ("A", "B", t(20, 12), "voice", 3725, "out"),  # before the window of the windowed cases
    ("B", "A", t(27, 23, 59), "voice", 40, "in"),  # B is on another network: only the in row exists
]


@pytest.fixture(scope="module")
def cdr() -> pa.Table:
    return pa.table({
        "caller": [r[0] for r in ROWS], "callee": [r[1] for r in ROWS],
        "start_time": pa.array([r[2] for r in ROWS], UTC_TS), "kind": [r[3] for r in ROWS],
        "duration_s": pa.array([r[4] for r in ROWS], pa.int32()), "direction": [r[5] for r in ROWS],
    })


def test_pair_timeline_in_local_time(cdr):
    out = pair_timeline(cdr, "B", "A", timezone="America/Chicago")
    assert out.column_names == TIMELINE_COLUMNS
    rows = out.to_pylist()
    assert [(r["caller"], r["callee"], r["kind"], r["duration_s"]) for r in rows] == [
        ("A", "B", "voice", 3725), ("A", "B", "voice", 125), ("B", "A", "sms", 0), ("B", "A", "voice", 40)]
    assert [r["start_time"] for r in rows] == [t(20, 12), t(25, 3), t(26, 15, 30), t(27, 23, 59)]
    # 03:00 UTC on Monday 25 December is Sunday evening in Chicago (UTC-6)
    assert str(out["local_time"].type) == "timestamp[us, tz=America/Chicago]"
    assert time_label(rows[1]["local_time"], "America/Chicago") == "Sun 24 Dec 21:00:00"
    assert time_label(rows[1]["start_time"], "America/Chicago", year=True) == "Sun 24 Dec 2017 21:00:00"


@pytest.mark.parametrize("start,end,want", [
    (t(21, 0), None, [t(25, 3), t(26, 15, 30), t(27, 23, 59)]),
    (None, t(26, 15, 30), [t(20, 12), t(25, 3)]),  # end excluded
    ("2017-12-25T00:00:00Z", "2017-12-27T00:00:00Z", [t(25, 3), t(26, 15, 30)]),
])
def test_pair_timeline_window(cdr, start, end, want):
    assert pair_timeline(cdr, "A", "B", start=start, end=end)["start_time"].to_pylist() == want


def test_contact_events_among_phones(cdr):
    ev = contact_events(cdr, ["A", "B", "C"])
    assert ev.num_rows == 5 and "data" not in ev["kind"].to_pylist()
    assert contact_events(cdr, ["A", "C"]).to_pylist() == [
        {"start_time": t(25, 4), "caller": "A", "callee": "C", "kind": "voice", "duration_s": 30}]
    assert contact_events(cdr).num_rows == 5
    with pytest.raises(TypeError):
        contact_events(cdr, "AB")


def test_errors(cdr):
    with pytest.raises(ValueError, match="two different phones"):
        pair_timeline(cdr, "A", "A")
    with pytest.raises(ValueError, match="not an IANA time zone"):
        pair_timeline(cdr, "A", "B", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="lacks column"):
        pair_timeline(cdr.drop_columns(["kind"]), "A", "B")


@pytest.mark.parametrize("seconds,label", [(None, "–"), (0, "–"), (7, "0:07"), (125, "2:05"), (3725, "1:02:05")])
def test_duration_label(seconds, label):
    assert duration_label(seconds) == label
