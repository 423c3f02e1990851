"""Both ledger rows of a transfer, and mule accounts of the synthetic world.

A bank books a transfer between two of its customers twice (the payer's
debit, the payee's credit) and a transfer from another bank once (the
payee's credit). ``jobs.links.fraud.transfers`` reads both directions and
counts a mirrored pair once, so a mule's fan-in from victims at other banks is
seen. Documented threshold: on ``jobs.synth`` worlds (seeds below) mule
accounts are found with recall >= 0.9 and precision >= 0.8 (measured 1.0 /
0.91-1.0 on seeds 1-5, 7 and 42; it was 0 of 6 when credits were read as
money sent).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jobs.links.fraud import find_fan_patterns, transfers

UTC = dt.timezone.utc
MULE_MIN_RECALL = 0.9
MULE_MIN_PRECISION = 0.8


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, tzinfo=UTC)


def ledger(rows, *, with_direction: bool = True) -> pa.Table:
    """rows: (txn_id, account, counterparty, amount, time, direction)."""
    cols = {
        "txn_id": [r[0] for r in rows],
        "account": [r[1] for r in rows],
        "counterparty": [r[2] for r in rows],
        "amount": pa.array([float(r[3]) for r in rows]),
        "occurred_at": pa.array([r[4] for r in rows], pa.timestamp("us", tz="UTC")),
        "channel": ["transfer"] * len(rows),
    }
    if with_direction:
        cols["direction"] = pa.array([r[5] for r in rows], pa.string())
    return pa.table(cols)


TRANSFER_CASES = [
    # (rows, expected (txn_id, src, dst) after reading)
    pytest.param([("d", "A", "B", 100, at(1), "debit"), ("c", "B", "A", 100, at(1), "credit")],
                 [("d", "A", "B")], id="internal transfer counted once"),
    pytest.param([("c", "M", "V", 300, at(1), "credit")], [("c", "V", "M")], id="credit from another bank"),
    pytest.param([("d", "A", "X", 50, at(1), "debit")], [("d", "A", "X")], id="debit to another bank"),
    pytest.param([("d", "A", "B", 50, at(1), None)], [("d", "A", "B")], id="missing direction is a debit"),
    pytest.param([("d1", "A", "B", 100, at(1), "debit"), ("d2", "A", "B", 100, at(1), "debit"),
                  ("c1", "B", "A", 100, at(1), "credit"), ("c2", "B", "A", 100, at(1), "credit")],
                 [("d1", "A", "B"), ("d2", "A", "B")], id="two identical transfers stay two"),
    pytest.param([("d", "A", "B", 100, at(1), "debit"), ("c1", "B", "A", 100, at(1), "credit"),
                  ("c2", "B", "A", 100, at(1), "credit")],
                 [("c2", "A", "B"), ("d", "A", "B")], id="an unmatched second credit stays"),
    pytest.param([("d", "A", "B", 100, at(1), "debit"), ("c", "B", "A", 100, at(1, 13), "credit")],
                 [("d", "A", "B"), ("c", "A", "B")], id="credit at another time is another transfer"),
    pytest.param([("d", "A", "B", 100, at(1), "debit"), ("c", "B", "A", 101, at(1), "credit")],
                 [("c", "A", "B"), ("d", "A", "B")], id="credit of another amount is another transfer"),
]


@pytest.mark.parametrize("rows,expected", TRANSFER_CASES)
def test_transfers_reads_both_ledger_sides(rows, expected):
    df = transfers(ledger(rows))
    assert sorted(zip(df["txn_id"], df["src"], df["dst"])) == sorted(expected)


def test_without_direction_every_row_is_the_payers_view():
    rows = [("d", "A", "B", 100, at(1), None), ("c", "B", "A", 100, at(1), None)]
    df = transfers(ledger(rows, with_direction=False))
    assert sorted(zip(df["src"], df["dst"])) == [("A", "B"), ("B", "A")]


def _mule_rows(extra=()):
    """Six victims at other banks pay M (credits on M); M passes 90 % on within a day (debits)."""
    rows = [(f"in{i}", "M", f"V{i}", 200, at(5, 8 + i), "credit") for i in range(6)]
    rows += [("out1", "M", "BOSS", 1080, at(6, 9), "debit")]
    return rows + list(extra)


def test_mule_found_from_credit_rows():
    fans = find_fan_patterns(ledger(_mule_rows()))
    hit = fans[fans["hub"] == "M"]
    assert list(hit["pattern"]) == ["mule"] and hit.iloc[0]["counterparties"] == [f"V{i}" for i in range(6)]
    assert hit.iloc[0]["onward"] == ["BOSS"] and hit.iloc[0]["ratio"] == pytest.approx(0.9)


def test_unrelated_credit_in_the_window_does_not_hide_a_mule():
    # a salary two days before the burst is in the widest window and halves its pass-through
    salary = [("pay", "M", "EMPLOYER", 1500, at(3, 6), "credit")]
    fans = find_fan_patterns(ledger(_mule_rows(salary)))
    hit = fans[fans["hub"] == "M"].iloc[0]
    assert hit["pattern"] == "mule" and "EMPLOYER" not in hit["counterparties"]
    assert hit["amount_in"] == pytest.approx(1200.0)


def test_collection_account_is_not_a_mule():
    rows = [(f"in{i}", "SHOP", f"U{i}", 50, at(5, 8 + i), "credit") for i in range(6)]
    fans = find_fan_patterns(ledger(rows))
    assert list(fans["pattern"]) == ["fan_in"]


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("seed,scale", [(1, 0.3), (3, 0.5)])
def test_synthetic_mules_recall(seed, scale):
    from pathlib import Path

    import pyarrow.csv as pcsv

    from jobs.ingest.pseudonymise import DEMO_KEY
    from jobs.links.scoring import precision_recall
    from jobs.links.synthetic import silver_from_synth
    from jobs.synth import generate
    from jobs.synth.incidents import from_crimemapping

    csv = Path(__file__).resolve().parents[3] / "data" / "chicago" / "aggravated_assaults_2010_2017.csv.gz"
    if not csv.exists():
        pytest.skip(f"{csv} not found")
    inc = from_crimemapping(pcsv.read_csv(csv))
    inc = inc.filter(pc.greater_equal(inc["occurred_at"], pa.scalar(at(1).replace(year=2017, month=6), pa.timestamp("us", tz="UTC"))))
    silver = silver_from_synth(generate(inc, seed=seed, scale=scale), key=DEMO_KEY)
    truth = silver["truth_accounts"]
    mules = truth.filter(pc.equal(truth["role"], "mule"))["account"].to_pylist()
    fans = find_fan_patterns(silver["transactions"])  # both ledger rows, as silver holds them
    s = precision_recall(fans.loc[fans["pattern"] == "mule", "hub"], mules)
    assert len(mules) >= 6
    assert s["recall"] >= MULE_MIN_RECALL and s["precision"] >= MULE_MIN_PRECISION, s
