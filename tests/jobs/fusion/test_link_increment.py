"""Mergeable CDR link evidence: old partials merged with an increment equal the partials of all rows."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from jobs.fusion.entities import cdr_link_increment, cdr_link_partials, reduce_cdr_partials

T0 = dt.datetime(2017, 12, 4, 12, tzinfo=dt.timezone.utc)


def cdr(rows):
    """rows: (event_id, caller, callee, minutes after T0, kind, direction, imei)."""
    cols = list(zip(*rows))
    return pa.table({"event_id": pa.array(cols[0], pa.string()), "caller": pa.array(cols[1], pa.string()),
                     "callee": pa.array(cols[2], pa.string()),
                     "start_time": pa.array([T0 + dt.timedelta(minutes=m) for m in cols[3]], pa.timestamp("us", tz="UTC")),
                     "kind": pa.array(cols[4], pa.string()), "direction": pa.array(cols[5], pa.string()),
                     "imei": pa.array(cols[6], pa.string())})


OLD = [("e01", "a", "b", 0, "voice", "out", "i1"), ("e02", "a", "b", 0, "voice", "in", "i2"),
       ("e03", "a", "c", 5, "sms", "out", "i1"), ("e04", "b", "a", 9, "voice", "out", "i2")]
CASES = {
    "new calls only": [("e10", "a", "b", 60, "voice", "out", "i1"), ("e11", "c", "d", 61, "sms", "out", "i3")],
    "the other record of an old call": [("e12", "a", "c", 5, "sms", "in", "i4")],
    "an old call again under new ids, with a smaller id": [("e00", "a", "b", 0, "voice", "out", "i1"),
                                                         ("e13", "b", "a", 9, "voice", "in", "i5")],
    "mixed": [("e14", "a", "b", 0, "voice", "out", "i1"), ("e15", "a", "b", 70, "voice", "out", "i1"),
              ("e16", "d", "a", 71, "voice", "out", None)],
}


def merged(old: pa.Table, inc: pa.Table) -> list[dict]:
    # what the MERGE into gold/cdr_link_partials computes: counts add, least first, greatest last, smallest sample
    return sorted(reduce_cdr_partials(pa.concat_tables([reduce_cdr_partials(cdr_link_partials(old)), inc])).to_pylist(),
                  key=lambda r: (r["link_type"], r["src"], r["dst"]))


@pytest.mark.parametrize("name", list(CASES))
def test_increment_merges_to_the_full_partials(name):
    old, new = cdr(OLD), cdr(CASES[name])
    keys = {(r["caller"], r["callee"], r["kind"], r["start_time"]) for r in new.to_pylist()}
    overlap = old.filter(pa.array([(r["caller"], r["callee"], r["kind"], r["start_time"]) in keys
                                   for r in old.to_pylist()]))
    full = sorted(reduce_cdr_partials(cdr_link_partials(pa.concat_tables([old, new]))).to_pylist(),
                  key=lambda r: (r["link_type"], r["src"], r["dst"]))
    assert merged(old, cdr_link_increment(new, overlap)) == full


def test_record_link_partials_merge_to_the_full_partials():
    from jobs.fusion.entities import post_link_partials, reduce_cdr_partials, transaction_link_partials

    t = [T0 + dt.timedelta(minutes=m) for m in range(6)]
    txn = pa.table({"txn_id": ["t3", "t1", "t2", "t4", "t5", "t6"], "account": ["a", "a", "b", "a", "a", ""],
                    "counterparty": ["b", "b", "a", "a", None, "b"],
                    "occurred_at": pa.array(t, pa.timestamp("us", tz="UTC"))})
    posts = pa.table({"post_id": ["p2", "p1", "p3"], "author": ["h1", "h1", "h2"],
                      "mentions": pa.array([["h2", "h3"], ["h2"], None], pa.list_(pa.string())),
                      "posted_at": pa.array(t[:3], pa.timestamp("us", tz="UTC"))})
    for kernel, table in ((transaction_link_partials, txn), (post_link_partials, posts)):
        full = kernel(table)
        split = reduce_cdr_partials(pa.concat_tables([kernel(table.slice(0, 1)), kernel(table.slice(1))]))
        assert split.to_pylist() == full.to_pylist()
    rows = {(r["src"], r["dst"]): r for r in transaction_link_partials(txn).to_pylist()}
    # self-links, empty and missing parties are no evidence; the smallest record id is the sample
    assert set(rows) == {("account:a", "account:b"), ("account:b", "account:a")}
    assert rows[("account:a", "account:b")]["n_evidence"] == 2 and rows[("account:a", "account:b")]["sample"] == "t1"
    mentioned = {(r["src"], r["dst"]): r["n_evidence"] for r in post_link_partials(posts).to_pylist()}
    assert mentioned == {("handle:h1", "handle:h2"): 2, ("handle:h1", "handle:h3"): 1}
