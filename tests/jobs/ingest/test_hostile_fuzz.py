"""Fuzzing ingestion (issue 14, item 8): any file or spec reconciles or gives a clean error.

A fixed budget (derandomised, a set number of examples, no deadline) keeps the
suite under a minute on 2 cores. Properties: a file either raises
``SourceFileError`` or parses with rows in = accepted + quarantined, and every
accepted number equals the number its text says; a spec either loads or raises
``SpecError``. Any other exception is a failure.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from jobs.ingest.records import parse_records  # noqa: E402
from jobs.ingest.spec import SpecError, load_spec  # noqa: E402
from jobs.ingest.readers import SourceFileError, read_source  # noqa: E402

SPECS = Path(__file__).resolve().parents[3] / "specs" / "synthetic"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEY = b"fuzz-key-not-secret-0123456789abcdef"
BUDGET = settings(derandomize=True, max_examples=40, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                         HealthCheck.data_too_large])

HOSTILE = st.sampled_from(["", " ", "N/A", "-", "1e308", "inf", "-5", "1.7", "12.50", "1.234,56", "0", '"', '""',
                           "a,b", "x;y", "\u2028", "\ufeff", "\x00", "2017-12-04T06:05:58+02:00", "[1, 2]",
                           "1" * 40, "é"])
TEXT = st.one_of(HOSTILE, st.text(max_size=12), st.integers(-10**20, 10**20).map(str),
                 st.floats(allow_nan=True, allow_infinity=True).map(repr))

CDR_GOOD = {"record_id": "C", "a_number": "+13125550001", "b_number": "+13125550002",
            "start_time": "2017-12-04T06:05:58Z", "duration_s": "67", "event_type": "voice", "direction": "out",
            "cgi": "310-260-1-1", "imei": "356846105373084", "imsi": "310410384061438"}
TXN_GOOD = {"txn_id": "T", "account": "ACC1", "counterparty": "ACC2", "amount": "12,50", "currency": "USD",
            "direction": "debit", "booked_at": "2017-12-04T06:05:58Z", "channel": "atm", "terminal_id": "ATM1",
            "lon": "-87,62", "lat": "41,88"}


def _number(text: str, decimal: str, thousands: str | None) -> float | None:
    t = text.strip()
    if thousands:
        t = t.replace(thousands, "")
    return float(t.replace(decimal, "."))


def _check(spec, path: Path, id_col: str, num_col: str, canon: str, decimal: str, thousands: str | None,
           rows: list[dict]):
    try:
        raw = read_source(spec, path)
    except SourceFileError:
        return
    result = parse_records(raw.table, spec, now=NOW, pseudonym_key=KEY)
    assert result.rows_in == raw.table.num_rows == result.accepted.num_rows + result.rejects.num_rows
    ids = [r[id_col].strip() for r in rows]
    sent = {i: r[num_col] for i, r in zip(ids, rows) if ids.count(i) == 1}
    from jobs.schemas import ID_FIELD

    for rid, value in zip(result.accepted[ID_FIELD[spec.table]].to_pylist(), result.accepted[canon].to_pylist()):
        rid = rid.removeprefix(f"{spec.name}:")
        if value is not None and rid in sent:
            expected = _number(sent[rid], decimal, thousands)
            assert math.isclose(value, expected, rel_tol=1e-12), (rid, sent[rid], value)


def _csv(rows: list[dict], delimiter: str) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _rows(good: dict, id_col: str):
    row = st.fixed_dictionaries({k: st.one_of(st.just(v), TEXT) for k, v in good.items()})
    return st.lists(row, min_size=1, max_size=8).map(
        lambda rs: [dict(r, **{id_col: f"{good[id_col]}{i}"}) if i % 2 else r for i, r in enumerate(rs)])


@BUDGET
@given(rows=_rows(CDR_GOOD, "record_id"), raw_mode=st.booleans())
def test_fuzz_cdr_csv(tmp_path_factory, rows, raw_mode):
    spec = load_spec(SPECS / "cdr.yaml")
    path = tmp_path_factory.mktemp("cdr") / "f.csv"
    text = _csv(rows, ",")
    if raw_mode:  # hand-made lines: unbalanced quotes, wrong field counts
        text = "\n".join(",".join(r.values()) for r in [dict(zip(rows[0], rows[0])), *rows]) + "\n"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    _check(spec, path, "record_id", "duration_s", "duration_s", ".", None, rows)


@BUDGET
@given(rows=_rows(TXN_GOOD, "txn_id"))
def test_fuzz_transactions_csv(tmp_path_factory, rows):
    spec = load_spec(SPECS / "transactions.yaml")
    path = tmp_path_factory.mktemp("txn") / "t.csv"
    path.write_bytes(_csv(rows, ";").encode("utf-8", errors="surrogatepass"))
    _check(spec, path, "txn_id", "amount", "amount", ",", ".", rows)


JSON_VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                          max_leaves=6)
POST_KEYS = ["post_id", "platform", "author", "text", "language", "posted_at", "lon", "lat", "place_name",
             "mentions", "urls"]


@BUDGET
@given(posts=st.lists(st.fixed_dictionaries({k: JSON_VALUE for k in POST_KEYS}), min_size=1, max_size=6),
       garbage=st.lists(TEXT, max_size=2))
def test_fuzz_osint_jsonl(tmp_path_factory, posts, garbage):
    spec = load_spec(SPECS / "osint.yaml")
    path = tmp_path_factory.mktemp("osint") / "p.jsonl"
    lines = [json.dumps(p, ensure_ascii=False) for p in posts] + garbage
    path.write_bytes("\n".join(lines).encode("utf-8", errors="surrogatepass"))
    try:
        raw = read_source(spec, path)
    except SourceFileError:
        return
    result = parse_records(raw.table, spec, now=NOW, pseudonym_key=KEY)
    assert result.rows_in == raw.table.num_rows == result.accepted.num_rows + result.rejects.num_rows
    authors = {p["author"] for p in posts if isinstance(p["author"], str) and len(p["author"].strip()) > 3}
    for raw_value in result.rejects["raw"].to_pylist():
        # the author field of a reject's raw record is pseudonymised, never the handle itself (another field may
        # hold the same text by chance: the check is on the field, not on the whole record)
        try:
            record = json.loads(raw_value)
        except ValueError:
            record = None
        if isinstance(record, dict):
            kept = record.get("author")
            assert not (isinstance(kept, str) and kept in authors and kept != "null"), (kept, raw_value)
        else:  # a line that is not a record (garbage): no post's author may appear in it
            assert not any(json.dumps(a, ensure_ascii=False)[1:-1] in raw_value for a in authors if a != "null")


SPEC_VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(st.one_of(st.text(max_size=6), st.integers()),
                                                                  inner, max_size=3)),
                          max_leaves=8)
SPEC_KEYS = ["name", "table", "format", "encoding", "id", "fields", "coordinates", "study_area", "bounds",
             "categories", "files", "description", "base_dir"]


@BUDGET
@given(overrides=st.dictionaries(st.sampled_from(SPEC_KEYS), SPEC_VALUE, max_size=4))
def test_fuzz_spec(tmp_path_factory, overrides):
    import yaml

    base = yaml.safe_load((SPECS / "transactions.yaml").read_text())
    base.update(overrides)
    path = tmp_path_factory.mktemp("spec") / "s.yaml"
    try:
        text = yaml.safe_dump(base, allow_unicode=True)
    except yaml.YAMLError:
        return
    path.write_text(text, encoding="utf-8")
    try:
        load_spec(path)
    except SpecError:
        pass


# -- every canonical table: each bundled spec, its source columns filled with hostile text --------------------

ALL_SPECS = sorted([*SPECS.glob("*.yaml"), *SPECS.parent.glob("*.yaml")])


def _source_columns(spec) -> list[str]:
    cols = [c for f in spec.fields.values() for c in f.source_columns]
    if spec.coordinates is not None and not spec.coordinates.from_geometry:
        cols += [spec.coordinates.x, spec.coordinates.y]
    cols += list(spec.id.columns or [])
    return list(dict.fromkeys(c for c in cols if c))


def _context(spec):
    """Boundaries and a SedonaDB context for specs with a study area (their rows are joined to it)."""
    if spec.study_area is None:
        return {}
    from orchestration.ingest.boundaries import read_boundaries
    from orchestration.resources.compute import Compute

    return {"boundaries": read_boundaries(spec), "ctx": Compute().sedona()}


@pytest.mark.parametrize("spec_path", ALL_SPECS, ids=lambda p: p.stem)
def test_fuzz_every_table_reconciles_or_refuses(spec_path, tmp_path_factory):
    """For each bundled spec (every canonical table), rows of hostile text written as CSV (or JSON Lines, or
    Parquet as the spec reads) either reconcile or give a clean file error; an accepted text field equals its
    input, trimmed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jobs.schemas import CANONICAL, PSEUDONYMISED

    spec = load_spec(spec_path)
    columns = _source_columns(spec)
    context = _context(spec)
    kind = spec.format.kind
    text_fields = {name: f.source_columns[0] for name, f in spec.fields.items()
                   if f.constant is None and len(f.source_columns) == 1 and name in CANONICAL[spec.table].names
                   and pa.types.is_string(CANONICAL[spec.table].field(name).type)
                   and name not in PSEUDONYMISED.get(spec.table, {}) and name != "category"}

    @BUDGET
    @given(rows=st.lists(st.fixed_dictionaries({c: TEXT for c in columns}), min_size=1, max_size=6))
    def check(rows):
        folder = tmp_path_factory.mktemp(spec.name)
        if kind == "jsonl":
            path = folder / "f.jsonl"
            path.write_bytes("\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode("utf-8", "surrogatepass"))
        elif kind == "parquet":
            path = folder / "f.parquet"
            try:
                pq.write_table(pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in columns}), path)
            except (pa.ArrowInvalid, UnicodeEncodeError):
                return  # text Parquet cannot hold (lone surrogates): not a file anyone can send
        elif kind == "csv":
            path = folder / "f.csv"
            path.write_bytes(_csv(rows, spec.format.delimiter).encode(spec.encoding if spec.encoding.lower() not in
                                                                       ("utf-8", "utf8") else "utf-8",
                                                                       errors="surrogatepass" if spec.encoding.lower()
                                                                       in ("utf-8", "utf8") else "replace"))
        else:
            return  # vector formats are read by GDAL; their bad input is tested in test_readers.py
        try:
            raw = read_source(spec, path)
        except SourceFileError:
            return
        result = parse_records(raw.table, spec, now=NOW, pseudonym_key=KEY, **context)
        assert result.rows_in == raw.table.num_rows == result.accepted.num_rows + result.rejects.num_rows
        for name, column in text_fields.items():
            sent = {r[column].strip() for r in rows if isinstance(r[column], str)}
            for value in result.accepted[name].to_pylist():
                assert value is None or value in sent, (name, value)

    check()
