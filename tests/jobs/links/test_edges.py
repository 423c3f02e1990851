"""Edge aggregation: expected rows on a tiny table, and split + merge == whole."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jobs.links.edges import aggregate_edges, edge_input_counts, merge_edges, sum_edge_input_counts
from jobs.links.synthetic import planted_partition_cdr

UTC = dt.timezone.utc


def _t(day, hour=0):
    return dt.datetime(2024, 1, day, hour, tzinfo=UTC)


def _cdr(rows):
    return pa.table(
        {
            "caller": [r[0] for r in rows],
            "callee": [r[1] for r in rows],
            "start_time": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
            "duration_s": pa.array([r[3] for r in rows], pa.int32()),
            "kind": [r[4] for r in rows],
        }
    )


ROWS = [
    ("a", "b", _t(1, 9), 30, "voice"),  # Monday, week of 2024-01-01
    ("a", "b", _t(3, 9), None, "sms"),
    ("a", "b", _t(7, 23), 10, "voice"),  # Sunday, same ISO week
    ("b", "a", _t(2), 5, "voice"),  # reverse direction is its own edge
    ("a", "b", _t(8), 7, "voice"),  # next week
    ("c", None, _t(2), 0, "data"),  # no callee: dropped
    ("c", "c", _t(2), 9, "voice"),  # self call: dropped
    ("c", "d", _t(2), 9, "data"),  # data kind: dropped
]

CASES = [
    (
        "week",
        [
            (_t(1), "a", "b", 3, 2, 1, 40, _t(1, 9), _t(7, 23)),
            (_t(1), "b", "a", 1, 1, 0, 5, _t(2), _t(2)),
            (_t(8), "a", "b", 1, 1, 0, 7, _t(8), _t(8)),
        ],
    ),
    (
        "all",
        [
            (dt.datetime(1970, 1, 1, tzinfo=UTC), "a", "b", 4, 3, 1, 47, _t(1, 9), _t(8)),
            (dt.datetime(1970, 1, 1, tzinfo=UTC), "b", "a", 1, 1, 0, 5, _t(2), _t(2)),
        ],
    ),
    (
        "day",
        [
            (_t(1), "a", "b", 1, 1, 0, 30, _t(1, 9), _t(1, 9)),
            (_t(2), "b", "a", 1, 1, 0, 5, _t(2), _t(2)),
            (_t(3), "a", "b", 1, 0, 1, 0, _t(3, 9), _t(3, 9)),
            (_t(7), "a", "b", 1, 1, 0, 10, _t(7, 23), _t(7, 23)),
            (_t(8), "a", "b", 1, 1, 0, 7, _t(8), _t(8)),
        ],
    ),
]


@pytest.mark.parametrize("period,expected", CASES, ids=[c[0] for c in CASES])
def test_aggregate_edges_rows(period, expected):
    out = aggregate_edges(_cdr(ROWS), period=period)
    got = [tuple(r.values()) for r in out.to_pylist()]
    assert got == expected


def _assert_same(a: pa.Table, b: pa.Table) -> None:
    assert a.schema == b.schema
    assert a.num_rows == b.num_rows
    assert a.equals(b), "merged edges differ from whole-input edges"


@pytest.mark.parametrize("n_parts", [2, 3, 7])
def test_split_and_merge_equals_whole(n_parts):
    cdr, _ = planted_partition_cdr(n_groups=5, group_size=12, events_per_phone=30, days=21, seed=3)
    whole = aggregate_edges(cdr, period="week")
    rng = np.random.default_rng(n_parts)
    part = rng.integers(0, n_parts, cdr.num_rows)
    pieces = [aggregate_edges(cdr.filter(pa.array(part == i)), period="week") for i in range(n_parts)]
    _assert_same(merge_edges(pieces), whole)
    # associativity: merging partial merges gives the same table
    _assert_same(merge_edges([merge_edges(pieces[:1]), merge_edges(pieces[1:])]), whole)
    assert pc.sum(whole.column("n_events")).as_py() == cdr.num_rows


def test_merge_of_nothing_and_bad_period():
    assert merge_edges([]).num_rows == 0
    with pytest.raises(ValueError, match="period"):
        aggregate_edges(_cdr(ROWS), period="fortnight")
    with pytest.raises(ValueError, match="lacks column"):
        aggregate_edges(pa.table({"caller": ["a"]}))
    with pytest.raises(TypeError):
        aggregate_edges(_cdr(ROWS), kinds="voice")


def test_mirrored_in_rows_are_dropped():
    t = _t(2, 10)
    cdr = _cdr([("a", "b", t, 30, "voice"), ("a", "b", t, 30, "voice"), ("x", "b", t, 5, "voice")])
    cdr = cdr.append_column("direction", pa.array(["out", "in", "in"]))  # a->b seen from both sides; x is off-network
    edges = {(r["caller"], r["callee"]): r["n_events"] for r in aggregate_edges(cdr).to_pylist()}
    assert edges == {("a", "b"): 1, ("x", "b"): 1}
    raw = {(r["caller"], r["callee"]): r["n_events"] for r in aggregate_edges(cdr, dedupe_mirrored=False).to_pylist()}
    assert raw[("a", "b")] == 2


def test_edge_input_counts_bound_the_edges():
    t = _t(2, 10)
    cdr = _cdr(ROWS + [("a", "b", t, 30, "voice"), ("a", "b", t, 30, "voice"), ("x", "b", t, 5, "voice")])
    cdr = cdr.append_column("direction", pa.array([None] * len(ROWS) + ["out", "in", "in"]))
    counts = {(r["period"].date().isoformat(), r["kind"]): (r["rows"], r["out_rows"]) for r in edge_input_counts(cdr).to_pylist()}
    # data rows, self-calls and rows without a callee make no edge; 'in' rows may be mirrors
    assert counts == {("2024-01-01", "voice"): (6, 4), ("2024-01-01", "sms"): (1, 1), ("2024-01-08", "voice"): (1, 1)}
    edges = aggregate_edges(cdr)
    n_voice = {p.date().isoformat(): 0 for p in edges["period"].to_pylist()}
    for r in edges.to_pylist():
        n_voice[r["period"].date().isoformat()] += r["n_voice"]
    assert 4 <= n_voice["2024-01-01"] <= 6 and n_voice["2024-01-08"] == 1
    halves = sum_edge_input_counts([edge_input_counts(cdr.slice(0, 4)), edge_input_counts(cdr.slice(4))])
    assert halves.equals(edge_input_counts(cdr))
    assert edge_input_counts(cdr.drop_columns(["direction"]))["out_rows"].to_pylist() == [1, 6, 1]
