"""Bad input for every feed: a clear error naming file and column, or a quarantine row with its reason.

One table of cases over the synthetic feeds' specs (CSV, semicolon CSV with
decimal commas, JSON Lines, Parquet); in every case that is not a whole-file
error, rows in = accepted + quarantined.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.ingest.records import parse_records
from jobs.ingest.spec import load_spec
from jobs.ingest.readers import SourceFileError, read_source

SPECS = Path(__file__).resolve().parents[3] / "specs" / "synthetic"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEY = b"test-key-not-secret-0123456789"

CDR_HEADER = "record_id,a_number,b_number,start_time,duration_s,event_type,direction,cgi,imei,imsi"
CDR_ROW = "CDR1,+13125550001,+13125550002,2017-12-04T06:05:58Z,67,voice,out,310-260-1-1,356846105373084,310410384061438"
TXN_HEADER = "txn_id;account;counterparty;amount;currency;direction;booked_at;channel;terminal_id;lon;lat;reference"
TXN_ROW = "T1;ACC1;ACC2;1.234,56;USD;debit;2017-12-04T06:05:58Z;atm;ATM1;-87,62;41,88;x"
POST = {"post_id": "P1", "platform": "x", "author": "@someone", "text": "hello", "language": "en",
        "posted_at": "2017-12-04T06:05:58Z", "lon": -87.6, "lat": 41.8, "place_name": None,
        "mentions": ["@other"], "urls": []}


def csv_file(tmp_path, name, header, rows, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return p


def parse(spec_name, path):
    spec = load_spec(SPECS / spec_name)
    raw = read_source(spec, path)
    result = parse_records(raw.table, spec, now=NOW, pseudonym_key=KEY)
    assert result.rows_in == raw.table.num_rows == result.accepted.num_rows + result.rejects.num_rows
    return result


ROW_CASES = [
    # (spec, header, good row, bad row, expected rule)
    ("cdr.yaml", CDR_HEADER, CDR_ROW, "CDR2,+13125550001,+1312555", "malformed_row"),
    ("cdr.yaml", CDR_HEADER, CDR_ROW, CDR_ROW.replace("CDR1", "CDR2").replace("2017-12-04T06", "2017-02-30T06"), "unparseable_timestamp"),
    ("cdr.yaml", CDR_HEADER, CDR_ROW, CDR_ROW.replace("CDR1", "CDR2").replace("2017-12-04", "2099-12-04"), "future_timestamp"),
    ("cdr.yaml", CDR_HEADER, CDR_ROW, CDR_ROW, "duplicate_id"),
    ("cdr.yaml", CDR_HEADER, CDR_ROW, CDR_ROW.replace("CDR1", "CDR2").replace(",67,", ",sixty,"), "invalid_number"),
    ("cdr.yaml", CDR_HEADER, CDR_ROW, CDR_ROW.replace("CDR1", "CDR2").replace("+13125550001", ""), "missing_value"),
    ("transactions.yaml", TXN_HEADER, TXN_ROW, TXN_ROW.replace("T1", "T2").replace("-87,62;41,88", "0;0"), "null_island"),
    ("transactions.yaml", TXN_HEADER, TXN_ROW, TXN_ROW.replace("T1", "T2").replace("41,88", "141,88"), "out_of_crs_bounds"),
    ("transactions.yaml", TXN_HEADER, TXN_ROW, TXN_ROW.replace("T1", "T2").replace("-87,62", "west"), "invalid_coordinates"),
    ("transactions.yaml", TXN_HEADER, TXN_ROW, TXN_ROW.replace("T1", "T2").replace("1.234,56", "lots"), "invalid_number"),
]


@pytest.mark.parametrize("spec,header,good,bad,rule", ROW_CASES, ids=[f"{c[0]}:{c[4]}" for c in ROW_CASES])
def test_row_cases(tmp_path, spec, header, good, bad, rule):
    result = parse(spec, csv_file(tmp_path, "feed.csv", header, [good, bad]))
    assert result.rejects["rule"].to_pylist() == [rule]
    reject = result.rejects.to_pylist()[0]
    assert reject["source_row"] == 2 and reject["reason"] and reject["raw"]


def test_decimal_commas_and_pseudonyms(tmp_path):
    result = parse("transactions.yaml", csv_file(tmp_path, "t.csv", TXN_HEADER, [TXN_ROW]))
    row = result.accepted.to_pylist()[0]
    assert row["amount"] == pytest.approx(1234.56)
    assert (row["lon"], row["lat"]) == (pytest.approx(-87.62), pytest.approx(41.88))
    assert row["account"] != "ACC1" and len(row["account"]) == 32  # keyed hash, never the raw number
    assert row["h3"]


@pytest.mark.parametrize("lon,lat,rule", [("41,88", "-87,62", "swapped_coordinates"),
                                           ("-74,006", "40,7128", "outside_study_area"),  # New York
                                           ("-87,62", "41,88", None)])
def test_transaction_bounds_without_study_area(tmp_path, lon, lat, rule):
    """The synthetic specs have no study area; their ``bounds`` still catch swapped and stray points."""
    row = TXN_ROW.replace("-87,62;41,88", f"{lon};{lat}")
    result = parse("transactions.yaml", csv_file(tmp_path, "t.csv", TXN_HEADER, [row]))
    assert result.rejects["rule"].to_pylist() == ([rule] if rule else [])
    if rule:
        reject = result.rejects.to_pylist()[0]
        assert reject["field"] == "lon,lat" and "bounds [-88, 41.6, -87.45, 42.1]" in reject["reason"]


def test_transfers_without_location_are_accepted(tmp_path):
    row = TXN_ROW.replace("atm;ATM1;-87,62;41,88", "transfer;;;")
    result = parse("transactions.yaml", csv_file(tmp_path, "t.csv", TXN_HEADER, [row]))
    assert result.rejects.num_rows == 0
    assert result.accepted["lon"].null_count == 1


def test_raw_identifiers_only_when_allowed(tmp_path):
    spec = load_spec(SPECS / "cdr.yaml")
    raw = read_source(spec, csv_file(tmp_path, "c.csv", CDR_HEADER, [CDR_ROW]))
    hashed = parse_records(raw.table, spec, now=NOW, pseudonym_key=KEY).accepted.to_pylist()[0]
    kept = parse_records(raw.table, spec, now=NOW, pseudonym_key=None).accepted.to_pylist()[0]
    assert kept["caller"] == "+13125550001"
    assert hashed["caller"] not in ("+13125550001", "13125550001")
    assert hashed["imei"] != "356846105373084" and hashed["imsi"] != "310410384061438"


def test_non_utf8_text_is_quarantined(tmp_path):
    bad = CDR_ROW.replace("CDR1", "CDR2").replace("voice", "vo\u00efce")
    result = parse("cdr.yaml", _mixed(tmp_path, CDR_HEADER, CDR_ROW, bad))
    assert result.rejects["rule"].to_pylist() == ["invalid_encoding"]


def test_non_utf8_jsonl_line_is_quarantined_not_replaced(tmp_path):
    path = tmp_path / "p.jsonl"
    bad = json.dumps({**POST, "post_id": "P2", "text": "caf\u00e9"}, ensure_ascii=False).encode("latin-1")
    path.write_bytes(json.dumps(POST).encode() + b"\n" + bad + b"\n")
    result = parse("osint.yaml", path)
    assert result.accepted["post_id"].to_pylist() == ["synthetic_osint:P1"]
    reject = result.rejects.to_pylist()[0]
    assert (reject["rule"], reject["field"], reject["source_row"]) == ("invalid_encoding", "text", 2)
    assert "byte 0xe9" in reject["reason"] and "utf-8" in reject["reason"] and "line 2" in reject["reason"]
    assert "\ufffd" not in "".join(result.accepted["text"].to_pylist())


def test_declared_encoding_csv_with_undecodable_byte_is_quarantined(tmp_path):
    spec_path = tmp_path / "cdr_cp1252.yaml"
    spec_path.write_text((SPECS / "cdr.yaml").read_text().replace("name: synthetic_cdr", "name: cdr_cp1252")
                         + "encoding: cp1252\n")
    spec = load_spec(spec_path)
    path = tmp_path / "c.csv"
    good = CDR_ROW.replace("310-260-1-1", "caf\u00e9").encode("cp1252")  # valid Windows-1252
    bad = CDR_ROW.replace("CDR1", "CDR2").replace("voice", "vo\x81ce").encode("latin-1")  # 0x81: undefined in cp1252
    path.write_bytes(CDR_HEADER.encode() + b"\n" + good + b"\n" + bad + b"\n")
    raw = read_source(spec, path)
    result = parse_records(raw.table, spec, now=NOW, pseudonym_key=KEY)
    assert result.rows_in == 2 == result.accepted.num_rows + result.rejects.num_rows
    assert result.accepted["cell_id"].to_pylist() == ["caf\u00e9"]
    reject = result.rejects.to_pylist()[0]
    assert (reject["rule"], reject["field"], reject["source_row"]) == ("invalid_encoding", "event_type", 2)
    assert "byte 0x81" in reject["reason"] and "cp1252" in reject["reason"]


def test_undecodable_file_is_a_clear_error(tmp_path):
    spec_path = tmp_path / "osint16.yaml"
    spec_path.write_text((SPECS / "osint.yaml").read_text() + "encoding: utf-16\n")
    path = tmp_path / "p.jsonl"
    path.write_bytes((json.dumps(POST) + "\n").encode("utf-16") + b"\x00")  # odd length: truncated
    with pytest.raises(SourceFileError, match=r"p\.jsonl: cannot be decoded as utf-16"):
        read_source(load_spec(spec_path), path)


def _mixed(tmp_path, header, good, bad_latin1):
    p = tmp_path / "mixed.csv"
    p.write_bytes(f"{header}\n{good}\n".encode() + f"{bad_latin1}\n".encode("latin-1"))
    return p


def test_wrong_delimiter_is_a_clear_error(tmp_path):
    path = csv_file(tmp_path, "t.csv", TXN_HEADER.replace(";", ","), [TXN_ROW.replace(";", ",")])
    with pytest.raises(SourceFileError) as err:
        read_source(load_spec(SPECS / "transactions.yaml"), path)
    assert "wrong delimiter" in str(err.value) and "t.csv" in str(err.value)


def test_renamed_column_is_a_clear_error(tmp_path):
    path = csv_file(tmp_path, "c.csv", CDR_HEADER.replace("a_number", "calling_number"), [CDR_ROW])
    with pytest.raises(SourceFileError, match=r"missing required column\(s\) \['a_number'\]"):
        read_source(load_spec(SPECS / "cdr.yaml"), path)


def test_new_column_is_kept_in_bronze(tmp_path):
    path = csv_file(tmp_path, "c.csv", CDR_HEADER + ",roaming", [CDR_ROW + ",no"])
    raw = read_source(load_spec(SPECS / "cdr.yaml"), path)
    assert raw.table["roaming"].to_pylist() == ["no"]


def test_empty_files(tmp_path):
    for name, data in [("c.csv", b""), ("p.jsonl", b""), ("q.parquet", b"")]:
        (tmp_path / name).write_bytes(data)
    with pytest.raises(SourceFileError, match="empty"):
        read_source(load_spec(SPECS / "cdr.yaml"), tmp_path / "c.csv")
    with pytest.raises(SourceFileError, match="empty"):
        read_source(load_spec(SPECS / "osint.yaml"), tmp_path / "p.jsonl")
    with pytest.raises(SourceFileError, match="empty"):
        read_source(load_spec(SPECS / "cell_sites.yaml"), tmp_path / "q.parquet")


def test_truncated_parquet(tmp_path):
    table = pa.table({"cell_id": ["c1"], "site_id": ["s1"], "lon": [-87.6], "lat": [41.8], "azimuth_deg": [0.0],
                      "beam_width_deg": [120.0], "range_m": [900.0], "sector_wkt": ["POLYGON((0 0,1 0,1 1,0 0))"]})
    good = tmp_path / "good.parquet"
    pq.write_table(table, good)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SourceFileError, match="truncated or corrupt"):
        read_source(load_spec(SPECS / "cell_sites.yaml"), cut)
    result = parse("cell_sites.yaml", good)
    import shapely

    assert shapely.from_wkb(result.accepted["geometry"][0].as_py()).geom_type == "Polygon"


def test_jsonl_bad_line_and_lists(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(POST) + "\n{not json\n" + json.dumps({**POST, "post_id": "P2", "lon": None, "lat": None}) + "\n")
    result = parse("osint.yaml", path)
    assert result.rejects["rule"].to_pylist() == ["malformed_row"]
    rows = result.accepted.to_pylist()
    assert len(rows) == 2 and rows[0]["mentions"][0] != "@other"  # handles are pseudonymised too
    assert rows[1]["lon"] is None


def test_unknown_category_is_flagged_not_rejected(tmp_path, chicago_spec, chicago_districts, sd):
    spec = load_spec(Path(__file__).resolve().parents[3] / "specs" / "san_francisco_robbery.yaml")
    path = csv_file(tmp_path, "sf.csv", "uid,offense_type,date_time,longitude,latitude",
                    ["1,personal robbery,2019-01-01T19:50:00Z,-122.40,37.78", "2,carjacking,2019-01-02T08:00:00Z,-122.41,37.78"])
    result = parse_records(read_source(spec, path).table, spec, now=NOW)
    rows = result.accepted.to_pylist()
    assert [(r["category"], r["category_mapped"]) for r in rows] == [("robbery", True), ("other", False)]


@pytest.mark.parametrize("driver,suffix,kind,crs", [
    ("GeoJSON", ".geojson", "geojson", "EPSG:26971"), ("GPKG", ".gpkg", "gpkg", "EPSG:26971"),
    ("ESRI Shapefile", ".shp", "shp", "EPSG:26971"),
    ("KML", ".kml", "kml", "EPSG:4326"),  # KML is always longitude/latitude
])
def test_vector_formats_through_pyogrio(tmp_path, driver, suffix, kind, crs, chicago_districts, sd):
    """Crime records exported as GeoJSON, GeoPackage, Shapefile (Illinois East state plane, metres) or KML:
    x/y from the point geometry."""
    import geopandas as gpd
    import shapely

    pts = gpd.GeoDataFrame(
        {"case_no": ["A1", "A2"], "occurred": ["2016-05-01 12:30", "2016-05-02 08:00"], "offence": ["BURGLARY", "X"]},
        geometry=[shapely.Point(-87.6277, 41.7922), shapely.Point(-87.6683, 41.7513)], crs="EPSG:4326",
    ).to_crs(crs)
    path = tmp_path / f"export{suffix}"
    pts.to_file(path, driver=driver)
    spec_path = tmp_path / "vector.yaml"
    spec_path.write_text(f"""
name: vector_city
table: incidents
format: {{kind: {kind}}}
id: {{columns: [case_no]}}
fields:
  occurred_at: {{column: occurred, format: "%Y-%m-%d %H:%M", timezone: America/Chicago}}
  category: {{column: offence}}
categories: {{mapping: {{BURGLARY: burglary}}}}
coordinates: {{from_geometry: true, crs: "{crs}"}}
study_area: {{boundary: {Path(__file__).resolve().parents[3] / 'data' / 'chicago' / 'police_districts.kml'}, id_field: Name}}
""")
    spec = load_spec(spec_path)
    result = parse_records(read_source(spec, path).table, spec, boundaries=chicago_districts, ctx=sd, now=NOW)
    rows = sorted(result.accepted.to_pylist(), key=lambda r: r["incident_id"])
    assert result.rejects.num_rows == 0
    assert [r["district"] for r in rows] == ["2", "6"]
    assert rows[0]["lon"] == pytest.approx(-87.6277, abs=1e-6) and rows[0]["lat"] == pytest.approx(41.7922, abs=1e-6)
    assert [(r["category"], r["category_mapped"]) for r in rows] == [("burglary", True), ("other", False)]


CP = [{"u": 0.0, "v": 1080.0, "lon": -87.6001, "lat": 41.8001}, {"u": 1920.0, "v": 1080.0, "lon": -87.5999, "lat": 41.8001},
      {"u": 0.0, "v": 600.0, "lon": -87.6003, "lat": 41.8006}, {"u": 1920.0, "v": 600.0, "lon": -87.5997, "lat": 41.8006}]
CAMERA = {"camera_id": "CAM-1", "lon": -87.6, "lat": 41.8, "heading_deg": 0.0, "control_points": CP}
PERSON = {"person_id": "P-1", "name": "Jane Roe", "date_of_birth": "1985-02-03", "role": "offender",
          "phones": ["+13125550001"], "accounts": ["GB33BUKB20201555555555"]}


def jsonl_file(tmp_path, rows: list[dict | str]) -> Path:
    path = tmp_path / "feed.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


JSONL_CASES = [
    # (spec, good record, bad record (or raw line), expected rule, expected field)
    ("cameras.yaml", CAMERA, {**CAMERA, "camera_id": "CAM-2", "control_points": CP[:2]}, "too_few_control_points", "control_points"),
    ("cameras.yaml", CAMERA, {**CAMERA, "camera_id": "CAM-2", "control_points": None}, "too_few_control_points", "control_points"),
    ("cameras.yaml", CAMERA, {**CAMERA, "camera_id": "CAM-2", "control_points": [*CP[:3], {**CP[3], "lon": None}]},
     "too_few_control_points", "control_points"),
    ("cameras.yaml", CAMERA, {**CAMERA, "camera_id": "CAM-2", "control_points": "[{\"u\": 1,"}, "invalid_value", "control_points"),
    ("cameras.yaml", CAMERA, {**CAMERA, "camera_id": "CAM-2", "lon": None}, "missing_coordinates", "lon,lat"),
    ("cameras.yaml", CAMERA, {**CAMERA, "camera_id": "CAM-2", "heading_deg": "north"}, "invalid_number", "heading_deg"),
    ("cameras.yaml", CAMERA, CAMERA, "duplicate_id", "camera_id"),
    ("cameras.yaml", CAMERA, {**CAMERA, "camera_id": " "}, "missing_value", "camera_id"),
    ("cameras.yaml", CAMERA, '{"camera_id": "CAM-2", "lon": -87.6,', "malformed_row", None),
    ("persons.yaml", PERSON, {**PERSON, "person_id": "P-2", "date_of_birth": "1985-02-30"}, "unparseable_timestamp", "date_of_birth"),
    ("persons.yaml", PERSON, {**PERSON, "person_id": "P-2", "date_of_birth": "2090-01-01"}, "future_timestamp", "date_of_birth"),
    ("persons.yaml", PERSON, {**PERSON, "person_id": "P-2", "phones": "[+1312"}, "invalid_value", "phones"),
    ("persons.yaml", PERSON, PERSON, "duplicate_id", "person_id"),
    ("persons.yaml", PERSON, ["not", "an", "object"], "malformed_row", None),
]


@pytest.mark.parametrize("spec,good,bad,rule,field", JSONL_CASES, ids=[f"{c[0]}:{c[3]}" for c in JSONL_CASES])
def test_jsonl_feed_cases(tmp_path, spec, good, bad, rule, field):
    result = parse(spec, jsonl_file(tmp_path, [good, bad]))
    assert result.accepted.num_rows == 1 and result.rejects.num_rows == 1
    reject = result.rejects.to_pylist()[0]
    assert (reject["rule"], reject["field"], reject["source_row"]) == (rule, field, 2)
    assert reject["reason"] and reject["raw"]


def test_camera_with_four_control_points_is_accepted(tmp_path):
    result = parse("cameras.yaml", jsonl_file(tmp_path, [CAMERA, {**CAMERA, "camera_id": "CAM-2", "control_points": CP[:3]}]))
    assert len(result.accepted["control_points"][0].as_py()) == 4
    assert "has 3 complete" in result.rejects["reason"][0].as_py() and "at least 4" in result.rejects["reason"][0].as_py()


def test_incident_enrichment_bad_rows(tmp_path):
    table = pa.table({
        "incident_id": ["chicago:1", "chicago:2", "chicago:1", "chicago:3"],
        "offender_ids": ['["P-1"]', '["P-2", ', '["P-3"]', None],
        "victim_ids": [None, None, None, '["P-4"]'],
        "mo_text": ["forced rear door", "x", "y", "z"],
        "weapon": ["knife", None, None, None],
    })
    path = tmp_path / "enrichment.parquet"
    pq.write_table(table, path)
    result = parse("incident_enrichment.yaml", path)
    rejects = result.rejects.to_pylist()
    assert [(r["rule"], r["field"], r["source_row"]) for r in rejects] == [
        ("invalid_value", "offender_ids", 2), ("duplicate_id", "incident_id", 3)]
    assert "already used by row 1" in rejects[1]["reason"]
    assert result.accepted["incident_id"].to_pylist() == ["chicago:1", "chicago:3"]
    assert result.accepted["offender_ids"].to_pylist() == [["P-1"], None]


def test_person_record_ids_join_and_personal_identifiers_are_hashed(tmp_path):
    """offender_ids / victim_ids are agency record numbers (persons.person_id), kept so they join;
    what identifies a person outside the agency (name, phones, accounts) is pseudonymised."""
    persons = parse("persons.yaml", jsonl_file(tmp_path, [PERSON])).accepted.to_pylist()[0]
    path = tmp_path / "enrichment.parquet"
    pq.write_table(pa.table({"incident_id": ["chicago:1"], "offender_ids": [["P-1"]], "victim_ids": [["P-9"]],
                             "mo_text": ["x"], "weapon": [None]}, schema=pa.schema([
        ("incident_id", pa.string()), ("offender_ids", pa.list_(pa.string())), ("victim_ids", pa.list_(pa.string())),
        ("mo_text", pa.string()), ("weapon", pa.string())])), path)
    case = parse("incident_enrichment.yaml", path).accepted.to_pylist()[0]
    assert case["offender_ids"] == [persons["person_id"]] == ["P-1"]
    assert case["victim_ids"] == ["P-9"]
    assert persons["name"] != "Jane Roe" and len(persons["name"]) == 32
    assert persons["phones"][0] != "+13125550001" and persons["accounts"][0] != "GB33BUKB20201555555555"
