"""Transfer cycles, fan-in/fan-out mules and fraud rings on hand-built transactions."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from jobs.links.fraud import account_communities, find_cycles, find_fan_patterns, fraud_rings

UTC = dt.timezone.utc


def at(day, hour=12):
    return dt.datetime(2024, 3, day, hour, tzinfo=UTC)


def txns(rows) -> pa.Table:
    return pa.table(
        {
            "txn_id": [r[0] for r in rows],
            "account": [r[1] for r in rows],
            "counterparty": [r[2] for r in rows],
            "amount": pa.array([float(r[3]) for r in rows]),
            "currency": ["EUR"] * len(rows),
            "occurred_at": pa.array([r[4] for r in rows], pa.timestamp("us", tz="UTC")),
            "channel": [r[5] if len(r) > 5 else "transfer" for r in rows],
        }
    )


CYCLE = [
    ("c1", "A", "B", 1000, at(1)),
    ("c2", "B", "C", 980, at(2)),
    ("c3", "C", "A", 960, at(3)),
]
BROKEN_AMOUNT = [
    ("b1", "D", "E", 1000, at(1)),
    ("b2", "E", "F", 300, at(2)),
    ("b3", "F", "D", 290, at(3)),
]
OUT_OF_ORDER = [  # X->Y after Y->Z: not time-respecting
    ("o1", "X", "Y", 500, at(2)),
    ("o2", "Y", "Z", 500, at(1)),
    ("o3", "Z", "X", 500, at(3)),
]
TOO_SLOW = [
    ("s1", "K", "L", 700, at(1)),
    ("s2", "L", "K", 690, at(20)),
]
MULE = [(f"m{i}", f"V{i}", "M", 200, at(5, 8 + i)) for i in range(6)] + [("mx", "M", "BOSS", 1100, at(6))]
MERCHANT = [(f"p{i}", f"U{i}", "SHOP", 50, at(5, 8 + i)) for i in range(6)]  # fan-in, keeps the money
CARD = [("card1", "A", "SHOP", 30, at(2), "card")]  # not a transfer channel


ALL = txns(CYCLE + BROKEN_AMOUNT + OUT_OF_ORDER + TOO_SLOW + MULE + MERCHANT + CARD)


CYCLE_CASES = [
    ({}, [["c1", "c2", "c3"]]),
    ({"amount_tolerance": 0.8}, [["b1", "b2", "b3"], ["c1", "c2", "c3"]]),
    ({"window": "30D"}, [["c1", "c2", "c3"], ["s1", "s2"]]),
    ({"max_length": 2, "window": "30D"}, [["s1", "s2"]]),
    ({"min_length": 3, "window": "30D"}, [["c1", "c2", "c3"]]),
]


@pytest.mark.parametrize("kwargs,expected", CYCLE_CASES)
def test_find_cycles(kwargs, expected):
    out = find_cycles(ALL, **kwargs)
    assert sorted(out["txn_ids"].tolist()) == expected


def test_cycle_found_once_with_accounts_in_order():
    out = find_cycles(ALL)
    assert out.iloc[0]["accounts"] == ["A", "B", "C"] and out.iloc[0]["length"] == 3


def test_fan_patterns():
    out = find_fan_patterns(ALL, min_degree=5)
    got = {(r.hub, r.pattern) for r in out.itertuples()}
    assert got == {("M", "mule"), ("SHOP", "fan_in")}
    mule = out[out["hub"] == "M"].iloc[0]
    assert mule["counterparties"] == [f"V{i}" for i in range(6)]
    assert mule["amount_in"] == 1200 and mule["amount_out"] == 1100
    assert mule["ratio"] == pytest.approx(1100 / 1200)
    assert find_fan_patterns(ALL, min_degree=7).empty
    with pytest.raises(ValueError, match="min_degree"):
        find_fan_patterns(ALL, min_degree=1)


def test_fraud_rings_table():
    rings = fraud_rings(ALL)
    rows = rings.to_pylist()
    assert [sorted(r["patterns"]) for r in rows] == [["cycle"], ["mule"]]  # sorted by total amount
    cyc, mule = rows
    assert cyc["core_members"] == ["A", "B", "C"] and cyc["n_txns"] == 3 and cyc["total_amount"] == 2940
    assert mule["core_members"] == ["M"] and "BOSS" in mule["members"] and "V0" in mule["members"]
    assert [f["txn_id"] for f in json.loads(cyc["flows"])] == ["c1", "c2", "c3"]
    ev = json.loads(mule["evidence"])
    assert ev["patterns"][0]["type"] == "mule" and ev["parameters"]["min_fan_degree"] == 5
    assert "SHOP" not in {a for r in rows for a in r["core_members"]}
    with_fans = fraud_rings(ALL, include_plain_fans=True)
    assert any(r["core_members"] == ["SHOP"] for r in with_fans.to_pylist())


def test_patterns_sharing_core_account_join_one_ring():
    # the mule M also sits on a cycle M -> N -> M: one ring with both patterns
    extra = [("r1", "M", "N", 400, at(7)), ("r2", "N", "M", 390, at(8))]
    rings = fraud_rings(txns(MULE + extra))
    assert rings.num_rows == 1
    assert sorted(rings.column("patterns")[0].as_py()) == ["cycle", "mule"]
    assert rings.column("core_members")[0].as_py() == ["M", "N"]


def test_account_communities_and_empty():
    comm = account_communities(ALL)
    by = dict(zip(comm.column("account").to_pylist(), comm.column("community").to_pylist()))
    assert by["A"] == by["B"] == by["C"] and by["V0"] == by["M"] == by["BOSS"]
    assert by["A"] != by["M"]
    assert fraud_rings(txns(MERCHANT)).num_rows == 0
