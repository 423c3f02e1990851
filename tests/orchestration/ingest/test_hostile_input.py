"""Hostile files and specs (issue 14): a clear error naming the file, or quarantine rows, never a traceback.

Every parsed case reconciles rows in = accepted + quarantined.
"""

from __future__ import annotations

import codecs
import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from jobs.ingest.records import parse_records
from jobs.ingest.spec import SpecError, load_spec
from jobs.ingest.readers import MAX_RECORD_BYTES, SourceFileError, read_source

ROOT = Path(__file__).resolve().parents[3]
SPECS = ROOT / "specs" / "synthetic"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEY = b"test-key-not-secret-0123456789abcdef"

CDR_HEADER = "record_id,a_number,b_number,start_time,duration_s,event_type,direction,cgi,imei,imsi"
CDR_ROW = "CDR{i},+13125550001,+13125550002,2017-12-04T06:05:58Z,67,voice,out,310-260-1-1,356846105373084,310410384061438"
POST = {"post_id": "P1", "platform": "x", "author": "@someone", "text": "hello", "language": "en",
        "posted_at": "2017-12-04T06:05:58Z", "lon": -87.6, "lat": 41.8, "place_name": None,
        "mentions": ["@other"], "urls": []}


def cdr_rows(n: int) -> list[str]:
    return [CDR_ROW.format(i=i) for i in range(1, n + 1)]


def parse(spec_name: str, path: Path, key: bytes | None = KEY):
    spec = load_spec(SPECS / spec_name)
    raw = read_source(spec, path)
    result = parse_records(raw.table, spec, now=NOW, pseudonym_key=key)
    assert result.rows_in == raw.table.num_rows == result.accepted.num_rows + result.rejects.num_rows
    return raw, result


# --- (b) tracebacks become errors or quarantine rows ------------------------------------------------

def test_header_only_file_parses_to_nothing(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text(CDR_HEADER + "\n")
    raw, result = parse("cdr.yaml", p)
    assert raw.table.num_rows == 0 == result.rows_in


def test_field_over_the_record_limit_is_one_malformed_row(tmp_path):
    rows = cdr_rows(3)
    rows[1] = rows[1].replace("voice", "v" * (MAX_RECORD_BYTES + 10))
    p = tmp_path / "big.csv"
    p.write_text("\n".join([CDR_HEADER, *rows]) + "\n")
    raw, result = parse("cdr.yaml", p)
    assert result.rows_in == 3 and result.accepted.num_rows == 2
    reject = result.rejects.to_pylist()[0]
    assert reject["rule"] == "malformed_row" and reject["source_row"] == 2
    assert "line 3" in reject["reason"] and "limit" in reject["reason"]
    assert len(reject["raw"]) < 5000  # the reject shows the start of the line, not megabytes


@pytest.mark.parametrize("position", [20, 69, 97, 150])
def test_corrupt_gzip_stream_is_a_file_error(tmp_path, position):
    body = "\n".join([CDR_HEADER, *cdr_rows(3000)]).encode()
    data = bytearray(gzip.compress(body))
    data[position] ^= 0x55
    p = tmp_path / "c.csv.gz"
    p.write_bytes(bytes(data))
    with pytest.raises(SourceFileError, match="corrupt gzip"):
        read_source(load_spec(SPECS / "cdr.yaml"), p)


@pytest.mark.parametrize("value", ["N/A", "-", "unknown", "  ()  "])
@pytest.mark.parametrize("key", [KEY, None])
def test_identifier_without_digits(tmp_path, value, key):
    rows = cdr_rows(2)
    rows[1] = rows[1].replace("+13125550001", value)  # the caller: required
    rows[0] = rows[0].replace("+13125550002", value)  # the callee: optional, a placeholder for unknown
    p = tmp_path / "na.csv"
    p.write_text("\n".join([CDR_HEADER, *rows]) + "\n")
    _, result = parse("cdr.yaml", p, key)
    assert result.rejects["rule"].to_pylist() == ["missing_value"]
    assert result.rejects["field"].to_pylist() == ["caller"]
    assert "no phone number" in result.rejects["reason"][0].as_py()
    assert result.accepted["callee"].to_pylist() == [None]


def test_mixed_utc_offsets_in_one_file(tmp_path):
    rows = cdr_rows(4)
    rows[1] = rows[1].replace("06:05:58Z", "08:05:58+02:00")
    rows[2] = rows[2].replace("06:05:58Z", "01:05:58-0500")
    rows[3] = rows[3].replace("06:05:58Z", "06:05:58")  # naive: UTC (the spec has no time zone)
    p = tmp_path / "tz.csv"
    p.write_text("\n".join([CDR_HEADER, *rows]) + "\n")
    _, result = parse("cdr.yaml", p)
    assert result.rejects.num_rows == 0
    assert set(result.accepted["start_time"].to_pylist()) == {datetime(2017, 12, 4, 6, 5, 58, tzinfo=timezone.utc)}


SPEC = """name: demo
table: incidents
fields:
  occurred_at: {column: date, format: "%Y-%m-%d"}
  category: {constant: robbery}
coordinates: {x: lon, y: lat}
"""


@pytest.mark.parametrize("text,message", [
    (SPEC + "1: 2\n", "key 1 is int"),
    (SPEC + "base_dir: /etc\n", "set by the loader"),
    (SPEC + "name: other\n", "given twice"),
    (SPEC.replace("category: {constant: robbery}", "category: {constant: [a, b]}"), "constant"),
    (SPEC + "files: [/etc/passwd]\n", "outside the spec's folder"),
    (SPEC + "files: ['../../../../../../etc/*']\n", "outside the spec's folder"),
    (SPEC + "study_area: {boundary: ../../../../../../../etc/passwd}\n", "outside the spec's folder"),
    (SPEC + "description: " + "x" * 20_000 + "\n", "description"),
    (SPEC.replace("{constant: robbery}", "{constant: " + "y" * 5000 + "}"), "at most 1,000"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n", "expands to more than"),
])
def test_hostile_spec_is_a_spec_error(tmp_path, text, message):
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    with pytest.raises(SpecError, match=message) as err:
        load_spec(p)
    assert str(p) in str(err.value)


def test_spec_that_is_a_folder_or_not_utf8(tmp_path):
    with pytest.raises(SpecError, match="is a folder"):
        load_spec(tmp_path)
    p = tmp_path / "latin.yaml"
    p.write_bytes(SPEC.replace("demo", "d\xe9mo").encode("latin-1"))
    with pytest.raises(SpecError, match=r"byte 0xe9 .*line 1.*not valid UTF-8"):
        load_spec(p)


def test_files_confined_to_spec_folder_and_data_roots(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.csv").write_text("date,lon,lat\n")
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "local.csv").write_text("date,lon,lat\n")
    p = folder / "spec.yaml"
    p.write_text(SPEC + "files: [local.csv, ../elsewhere/*.csv]\n")
    with pytest.raises(SpecError, match="CRIMEFUSION_DATA_ROOTS"):
        load_spec(p)
    spec = load_spec(p, data_roots=[outside])
    assert [f.name for f in spec.resolve_files()] == ["local.csv", "x.csv"]
    # absolute patterns work inside a root, and a symbolic link cannot lead out of it
    (folder / "link.csv").symlink_to(outside / "x.csv")
    p.write_text(SPEC + f"files: [{outside}/x.csv, link.csv]\n")
    with pytest.raises(SpecError, match="outside"):
        load_spec(p).resolve_files()
    assert len(load_spec(p, data_roots=[outside]).resolve_files()) == 2


def test_boundary_that_is_not_a_vector_layer(tmp_path):
    from orchestration.ingest.boundaries import read_boundaries

    (tmp_path / "b.kml").write_text("this is not KML")
    (tmp_path / "spec.yaml").write_text(SPEC + "study_area: {boundary: b.kml}\n")
    with pytest.raises(SpecError, match="not a readable vector layer"):
        read_boundaries(load_spec(tmp_path / "spec.yaml"))


# --- (c) an unterminated quote swallows nothing -------------------------------------------------------

def test_unterminated_quote_recovers_at_the_next_line(tmp_path):
    rows = cdr_rows(1000)
    rows[499] = rows[499].replace(",voice,", ',"voice,')
    rows[10] = rows[10].replace(",voice,", ',"voi""ce",')  # a closed quote with an escaped quote: fine
    rows[20] = rows[20].replace(",voice,", ',vo"ice,')  # a quote inside an unquoted field: literal
    p = tmp_path / "q.csv"
    p.write_text("\n".join([CDR_HEADER, *rows[:600]]) + "\r\n\r\n" + "\r\n".join(rows[600:]) + "\r\n")
    raw, result = parse("cdr.yaml", p)
    assert result.rows_in == 1000 and result.accepted.num_rows == 999
    reject = result.rejects.to_pylist()[0]
    assert (reject["rule"], reject["source_row"]) == ("malformed_row", 500)
    assert "line 501" in reject["reason"] and "unterminated quote" in reject["reason"]
    kinds = result.accepted["kind"].to_pylist()
    assert kinds[10] == 'voi"ce' and kinds[20] == 'vo"ice'
    assert raw.table["record_id"].to_pylist()[499:502] == [None, "CDR501", "CDR502"]


# --- (d) the right words -------------------------------------------------------------------------------

def test_utf8_bom_in_json_lines_is_stripped(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_bytes(codecs.BOM_UTF8 + (json.dumps(POST) + "\n").encode())
    _, result = parse("osint.yaml", p)
    assert result.rejects.num_rows == 0 and result.accepted.num_rows == 1


def test_folder_is_reported_as_a_folder(tmp_path):
    with pytest.raises(SourceFileError, match="is a folder"):
        read_source(load_spec(SPECS / "cdr.yaml"), tmp_path)
    with pytest.raises(SourceFileError, match="file not found"):
        read_source(load_spec(SPECS / "cdr.yaml"), tmp_path / "missing.csv")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("spec,body", [("cdr.yaml", CDR_HEADER + "\n" + CDR_ROW.format(i=1) + "\n"),
                                       ("osint.yaml", json.dumps(POST) + "\n")])
def test_utf16_under_a_utf8_spec(tmp_path, encoding, spec, body):
    p = tmp_path / "u16.txt"
    p.write_bytes(body.encode(encoding))
    with pytest.raises(SourceFileError, match="looks like UTF-16"):
        read_source(load_spec(SPECS / spec), p)


@pytest.mark.parametrize("change,field", [({"mentions": 5}, "mentions"), ({"author": ["a", "b"]}, "author"),
                                          ({"author": {"handle": "a"}}, "author"), ({"lon": True}, "lon"),
                                          ({"urls": {"a": 1}}, "urls")])
def test_wrong_json_type_is_a_reject(tmp_path, change, field):
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps(POST) + "\n" + json.dumps({**POST, "post_id": "P2", **change}) + "\n")
    _, result = parse("osint.yaml", p)
    assert result.rejects["rule"].to_pylist() == ["invalid_value"]
    assert result.rejects["field"].to_pylist() == [field]
    assert "line 2" in result.rejects["reason"][0].as_py()


def test_json_line_separator_inside_a_string_is_not_a_record_break(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps({**POST, "text": "a\u2028b\x85c"}, ensure_ascii=False) + "\n", encoding="utf-8")
    _, result = parse("osint.yaml", p)
    assert result.accepted["text"].to_pylist() == ["a\u2028b\x85c"]


# --- (f) privacy: no raw identifier in quarantine -----------------------------------------------------

def test_rejects_raw_holds_no_raw_identifier(tmp_path):
    rows = cdr_rows(3)
    rows.append(rows[0])  # duplicate id
    rows.append(rows[1].replace("CDR2", "CDR9").replace(",voice,", ',"voice,'))  # unterminated quote
    rows.append("CDR10,+13125550001")  # too few fields
    p = tmp_path / "dup.csv"
    p.write_text("\n".join([CDR_HEADER, *rows]) + "\n")
    _, result = parse("cdr.yaml", p)
    assert result.rejects.num_rows == 3
    for raw in result.rejects["raw"].to_pylist():
        assert "5550001" not in raw and "5550002" not in raw and "356846105373084" not in raw
    parsed = json.loads(result.rejects.filter(pa.compute.equal(result.rejects["rule"], "duplicate_id"))["raw"][0].as_py())
    assert len(parsed["a_number"]) == 32 and parsed["record_id"] == "CDR1"
    assert parsed["a_number"] == result.accepted["caller"][0].as_py()  # hashed as in silver: they join


def test_json_rejects_hash_list_identifiers(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps(POST) + "\n" + json.dumps({**POST, "posted_at": "never"}) .replace('"P1"', '"P2"') + "\n"
                 + '{"post_id": "P3", "author": "@someone", broken\n')
    _, result = parse("osint.yaml", p)
    assert result.rejects.num_rows == 2
    for raw in result.rejects["raw"].to_pylist():
        assert "@someone" not in raw and "@other" not in raw


@pytest.mark.parametrize("key,message", [
    ("short-key", "at least 32 bytes"),
    ("CHANGE_ME_long_random_secret_but_still_a_placeholder", "placeholder"),
])
def test_weak_pseudonym_key_refused_when_settings_load(key, message):
    from orchestration.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=message):
        load_settings({"CRIMEFUSION_PSEUDONYM_KEY": key})


def test_cluster_without_key_refused_when_settings_load():
    from orchestration.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="no pseudonymisation key"):
        load_settings({"CRIMEFUSION_DEPLOYMENT": "cluster"})
    assert load_settings({"CRIMEFUSION_DEPLOYMENT": "cluster", "CRIMEFUSION_PSEUDONYM_KEY": "k" * 32})
    assert load_settings({"CRIMEFUSION_DATA_ROOTS": "/a:/b"}).data_roots == (Path("/a"), Path("/b"))
