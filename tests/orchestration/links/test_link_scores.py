"""Scoring helpers of the link checks on tiny hand-made tables."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from orchestration.resources.lakehouse import sql_literal
from orchestration.links.checks import community_scores, ring_scores

UTC = dt.timezone.utc
W1, W2 = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 8, tzinfo=UTC)
GROUPS = pa.table({"msisdn": ["a", "b", "c", "d"], "group_id": ["G1", "G1", "G2", "G2"]})


def comms(rows):
    return pa.table({"period": pa.array([r[0] for r in rows], pa.timestamp("us", tz="UTC")),
                     "phone": [r[1] for r in rows], "community": pa.array([r[2] for r in rows], pa.int64())})


COMMUNITY_CASES = [
    # labels differ between weeks but each week matches the groups: perfect
    ([(W1, "a", 0), (W1, "b", 0), (W1, "c", 1), (W1, "d", 1), (W2, "a", 1), (W2, "b", 1), (W2, "c", 0), (W2, "d", 0),
      (W1, "x", 0)], 1.0, 1.0),
    # week 2 merges both groups: pooled scores drop below 1
    ([(W1, "a", 0), (W1, "b", 0), (W1, "c", 1), (W1, "d", 1), (W2, "a", 0), (W2, "b", 0), (W2, "c", 0), (W2, "d", 0)],
     None, 1.0),
    # only a and c call: coverage one half
    ([(W1, "a", 0), (W1, "c", 1)], 1.0, 0.5),
]


@pytest.mark.parametrize("rows,nmi,coverage", COMMUNITY_CASES)
def test_community_scores(rows, nmi, coverage):
    s = community_scores(comms(rows), GROUPS)
    assert s["coverage"] == pytest.approx(coverage)
    if nmi is None:
        assert s["nmi"] < 0.9 and s["ari"] < 0.9
    else:
        assert s["nmi"] == pytest.approx(nmi) and s["ari"] == pytest.approx(1.0)


def test_ring_scores_split_cycles_and_mules():
    accounts = pa.table({"account": ["r1", "r2", "r3", "m1", "m2"], "role": ["ring", "ring", "ring", "mule", "mule"],
                         "ring_id": ["R0", "R0", "R0", None, None]})

    def ring(core, patterns, hubs=()):
        ev = {"patterns": [{"type": p, "hub": h} for p, h in zip(patterns, hubs)] if hubs else [{"type": p} for p in patterns]}
        return {"core_members": core, "patterns": patterns, "evidence": json.dumps(ev)}

    rings = pa.Table.from_pylist([
        ring(["r1", "r2", "r3"], ["cycle"]),
        ring(["x", "y"], ["cycle"]),  # a false cycle
        ring(["m1"], ["mule"], ["m1"]),
    ])
    s = ring_scores(rings, accounts)
    assert s["ring_precision"] == 0.5 and s["ring_recall"] == 1.0
    assert s["mule_precision"] == 1.0 and s["mule_recall"] == 0.5


def test_period_literal():
    assert sql_literal(W1) == "'2024-01-01T00:00:00.000000Z'"
    with pytest.raises(ValueError, match="no time zone"):
        sql_literal(dt.datetime(2024, 1, 1))
