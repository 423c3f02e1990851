"""Numbers are read under a declared type, range and separator convention: never wrapped, rounded or guessed.

Table-driven over the CDR (integer ``duration_s``) and transaction (decimal
``amount``) feeds; every case reconciles rows in = accepted + quarantined.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from jobs.ingest.records import parse_records
from jobs.ingest.spec import SpecError, load_spec

SPECS = Path(__file__).resolve().parents[3] / "specs" / "synthetic"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEY = b"test-key-not-secret-0123456789abcdef"

CDR = {"record_id": "C1", "a_number": "+13125550001", "b_number": "+13125550002",
       "start_time": "2017-12-04T06:05:58Z", "duration_s": "67", "event_type": "voice", "direction": "out",
       "cgi": "310-260-1-1", "imei": "356846105373084", "imsi": "310410384061438"}
TXN = {"txn_id": "T1", "account": "ACC1", "counterparty": "ACC2", "amount": "12,50", "currency": "USD",
       "direction": "debit", "booked_at": "2017-12-04T06:05:58Z", "channel": "atm", "terminal_id": "ATM1",
       "lon": "-87,62", "lat": "41,88"}


def bronze(rows: list[dict]) -> pa.Table:
    n = len(rows)
    cols = {k: pa.array([r.get(k) for r in rows], pa.string()) for k in rows[0]}
    cols.update(
        read_rule=pa.nulls(n, pa.string()), read_error=pa.nulls(n, pa.string()), raw_line=pa.nulls(n, pa.string()),
        ingest_id=pa.array(["i1"] * n), source_file=pa.array(["f.csv"] * n),
        source_row=pa.array(range(1, n + 1), pa.int64()),
        ingested_at=pa.array([NOW] * n, pa.timestamp("us", tz="UTC")),
    )
    return pa.table(cols)


def parse(spec, rows):
    result = parse_records(bronze(rows), spec, now=NOW, pseudonym_key=KEY)
    assert result.rows_in == len(rows) == result.accepted.num_rows + result.rejects.num_rows
    return result


DURATION = [
    # (duration_s text, expected rule, or the accepted value)
    ("67", 67), ("0", 0), (" 86400 ", 86400), ("+5", 5), ("1e3", 1000), ("30.0", 30),
    ("1e308", "out_of_range"), ("1e20", "out_of_range"), ("1e400", "out_of_range"), ("-5", "out_of_range"),
    ("86401", "out_of_range"), ("2147483648", "out_of_range"),
    ("inf", "invalid_number"), ("-inf", "invalid_number"), ("nan", "invalid_number"), ("Infinity", "invalid_number"),
    ("1.7", "invalid_number"), ("0.5", "invalid_number"), ("1,000", "invalid_number"), ("sixty", "invalid_number"),
    ("0x10", "invalid_number"), ("1_000", "invalid_number"), ("--1", "invalid_number"),
    ("", None),  # duration is optional: empty is null, not a reject
]


@pytest.mark.parametrize("text,expected", DURATION, ids=[repr(c[0]) for c in DURATION])
def test_cdr_duration(text, expected):
    spec = load_spec(SPECS / "cdr.yaml")
    result = parse(spec, [dict(CDR, duration_s=text)])
    if isinstance(expected, str):
        assert result.rejects["rule"].to_pylist() == [expected]
        reject = result.rejects.to_pylist()[0]
        assert reject["field"] == "duration_s" and repr(text) in reject["reason"]
        assert result.accepted.num_rows == 0
    else:
        assert result.rejects.num_rows == 0, result.rejects.to_pylist()
        assert result.accepted["duration_s"].to_pylist() == [expected]


AMOUNT = [
    # spec decimal ',' thousands '.': (amount text, expected rule or value)
    ("12,50", 12.5), ("1.234,56", 1234.56), ("1.234.567,8", 1234567.8), ("0", 0.0), ("7", 7.0),
    ("12.50", "invalid_number"),  # not 1250: '.' groups digits by threes only
    ("1.7", "invalid_number"), ("1,2,3", "invalid_number"), ("12,50 EUR", "invalid_number"),
    ("inf", "invalid_number"), ("-inf", "invalid_number"),
    ("-5", "out_of_range"), ("1e308", "out_of_range"), ("1e400", "out_of_range"),
    ("", "missing_value"),
]


@pytest.mark.parametrize("text,expected", AMOUNT, ids=[repr(c[0]) for c in AMOUNT])
def test_transaction_amount(text, expected):
    spec = load_spec(SPECS / "transactions.yaml")
    result = parse(spec, [dict(TXN, amount=text)])
    if isinstance(expected, str):
        assert result.rejects["rule"].to_pylist() == [expected]
        assert result.rejects["field"].to_pylist() == ["amount"]
    else:
        assert result.rejects.num_rows == 0, result.rejects.to_pylist()
        assert result.accepted["amount"].to_pylist() == [pytest.approx(expected)]


@pytest.mark.parametrize("text,expected", [("12.50", 12.5), ("1.7", 1.7), ("1,234.5", "invalid_number"),
                                           ("12,50", "invalid_number")])
def test_decimal_point_never_guesses(text, expected):
    """Under decimal '.' without thousands, '12.50' is 12.5 and any comma is not a number."""
    spec = load_spec(SPECS / "transactions.yaml")
    spec = spec.model_copy(update={"format": spec.format.model_copy(update={"decimal": ".", "thousands": None})})
    result = parse(spec, [dict(TXN, amount=text, lon="-87.62", lat="41.88")])
    if isinstance(expected, str):
        assert result.rejects["rule"].to_pylist() == [expected]
    else:
        assert result.accepted["amount"].to_pylist() == [pytest.approx(expected)]


def test_spec_narrows_the_range(tmp_path):
    text = (SPECS / "cdr.yaml").read_text().replace("duration_s: {column: duration_s}",
                                                    "duration_s: {column: duration_s, min: 1, max: 3600}")
    (tmp_path / "cdr.yaml").write_text(text)
    spec = load_spec(tmp_path / "cdr.yaml")
    result = parse(spec, [dict(CDR, record_id=f"C{i}", duration_s=d) for i, d in enumerate(["0", "1", "3600", "3601"])])
    assert result.rejects["rule"].to_pylist() == ["out_of_range", "out_of_range"]
    assert "1..3600" in result.rejects["reason"][0].as_py()
    assert result.accepted["duration_s"].to_pylist() == [1, 3600]


@pytest.mark.parametrize("setting,message", [
    ("duration_s: {column: duration_s, max: 1e12}", "within"),
    ("duration_s: {column: duration_s, min: 10, max: 5}", "above max"),
    ("duration_s: {column: duration_s, max: .inf}", "finite"),
    ("kind: {column: event_type, min: 0}", "numeric fields"),
    ("duration_s: {column: duration_s, decimal: '5'}", "cannot separate digits"),
    ("duration_s: {column: duration_s, decimal: ',', thousands: ','}", "both ','"),
])
def test_invalid_number_settings(tmp_path, setting, message):
    text = (SPECS / "cdr.yaml").read_text()
    key = setting.split(":")[0]
    lines = [setting if line.strip().startswith(f"{key}:") else line for line in text.splitlines()]
    (tmp_path / "cdr.yaml").write_text("\n".join("  " + ln.strip() if ln == setting else ln for ln in lines))
    with pytest.raises(SpecError, match=message):
        load_spec(tmp_path / "cdr.yaml")


HALF_PAIRS = [("", "41,88", "missing_coordinates"), ("-87,62", "", "missing_coordinates"),
              ("", "", None), ("inf", "41,88", "invalid_coordinates"), ("-87.62", "41.88", "invalid_coordinates")]


@pytest.mark.parametrize("x,y,rule", HALF_PAIRS)
def test_half_a_coordinate_pair(x, y, rule):
    """Coordinates are optional for transactions, but half a pair is a broken location, not none."""
    spec = load_spec(SPECS / "transactions.yaml")
    result = parse(spec, [dict(TXN, lon=x, lat=y)])
    if rule is None:
        assert result.rejects.num_rows == 0
        assert result.accepted["lon"].to_pylist() == [None]
    else:
        assert result.rejects["rule"].to_pylist() == [rule]
