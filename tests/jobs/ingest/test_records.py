"""Row rules of the parse kernel, one bad-input case per row, on a tiny Chicago-shaped file."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pytest

from jobs.ingest.records import parse_records, parse_timestamps

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
GOOD = {"date": "2016-05-01 12:30", "loc_cat": "street", "longitude": "-87.6277", "latitude": "41.7922", "district": "2"}


def bronze(rows: list[dict]) -> pa.Table:
    n = len(rows)
    cols = {k: pa.array([r.get(k) for r in rows], pa.string()) for k in GOOD}
    cols.update(
        read_rule=pa.array([r.get("read_rule") for r in rows], pa.string()),
        read_error=pa.array([r.get("read_error") for r in rows], pa.string()),
        raw_line=pa.array([r.get("raw_line") for r in rows], pa.string()),
        ingest_id=pa.array(["i1"] * n, pa.string()),
        source_file=pa.array(["f.csv"] * n, pa.string()),
        source_row=pa.array(range(1, n + 1), pa.int64()),
        ingested_at=pa.array([NOW] * n, pa.timestamp("us", tz="UTC")),
    )
    return pa.table(cols)


CASES = [
    # (case, changes to a good row, expected rule or None when accepted)
    ("good row", {}, None),
    ("unparseable date", {"date": "2016-13-45 99:00"}, "unparseable_timestamp"),
    ("empty date", {"date": ""}, "missing_value"),
    ("empty coordinates", {"longitude": "", "latitude": ""}, "missing_coordinates"),
    ("non-numeric coordinate", {"longitude": "west"}, "invalid_coordinates"),
    ("(0, 0) coordinates", {"longitude": "0", "latitude": "0"}, "null_island"),
    ("latitude out of range", {"latitude": "141.79"}, "out_of_crs_bounds"),
    ("outside the study area", {"longitude": "-73.97", "latitude": "40.69"}, "outside_study_area"),
    ("latitude and longitude swapped", {"longitude": "41.7922", "latitude": "-87.6277"}, "swapped_coordinates"),
    ("future timestamp", {"date": "2030-01-01 00:00"}, "future_timestamp"),
    ("before 1990", {"date": "1985-06-01 10:00"}, "timestamp_too_old"),
    ("too few fields", {"read_rule": "malformed_row", "read_error": "line 3: expected 5 fields, found 3",
                        "raw_line": "2016-05-01,street,-87.6"}, "malformed_row"),
    ("bad encoding", {"read_rule": "invalid_encoding", "read_error": "field 'loc_cat': byte 0xe9"}, "invalid_encoding"),
    ("in no district but within tolerance", {"longitude": "-87.7792", "latitude": "41.9092"}, None),
]


@pytest.mark.parametrize("case,change,rule", CASES, ids=[c[0] for c in CASES])
def test_row_rule(case, change, rule, chicago_spec, chicago_districts, sd):
    rows = [dict(GOOD, date="2016-05-01 08:00"), {**GOOD, **change}]
    result = parse_records(bronze(rows), chicago_spec, boundaries=chicago_districts, ctx=sd, now=NOW)
    assert result.rows_in == 2 == result.accepted.num_rows + result.rejects.num_rows
    if rule is None:
        assert result.rejects.num_rows == 0, result.rejects.to_pylist()
    else:
        assert result.rejects["rule"].to_pylist() == [rule]
        reject = result.rejects.to_pylist()[0]
        assert reject["source_row"] == 2
        assert reject["reason"]
        assert reject["raw"]


def test_reason_names_field_and_value(chicago_spec, chicago_districts, sd):
    result = parse_records(bronze([{**GOOD, "date": "01/05/2016"}]), chicago_spec,
                           boundaries=chicago_districts, ctx=sd, now=NOW)
    reason = result.rejects["reason"][0].as_py()
    assert "occurred_at" in reason and "'date'" in reason and "01/05/2016" in reason and "%Y-%m-%d %H:%M" in reason


def test_identical_rows_are_two_incidents_with_stable_ids(chicago_spec, chicago_districts, sd):
    rows = [GOOD, GOOD, dict(GOOD, loc_cat="park")]
    a = parse_records(bronze(rows), chicago_spec, boundaries=chicago_districts, ctx=sd, now=NOW)
    b = parse_records(bronze(rows), chicago_spec, boundaries=chicago_districts, ctx=sd, now=NOW)
    ids = a.accepted["incident_id"].to_pylist()
    assert len(set(ids)) == 3
    assert ids == b.accepted["incident_id"].to_pylist()


def test_unchanged_row_of_a_redelivery_keeps_its_id(chicago_spec, chicago_districts, sd):
    """Occurrences count within a receipt: a corrected re-delivery's unchanged rows are the same incidents."""
    older = bronze([GOOD, GOOD, dict(GOOD, date="2016-05-02 12:30")])
    newer = bronze([GOOD, GOOD, dict(GOOD, date="2016-05-02 13:30")])
    newer = newer.set_column(newer.schema.get_field_index("ingest_id"), "ingest_id", pa.array(["i2"] * 3))
    a = parse_records(older, chicago_spec, boundaries=chicago_districts, ctx=sd, now=NOW)
    b = parse_records(newer, chicago_spec, boundaries=chicago_districts, ctx=sd, now=NOW)
    assert a.accepted["incident_id"].to_pylist()[:2] == b.accepted["incident_id"].to_pylist()[:2]
    both = parse_records(pa.concat_tables([newer, older]), chicago_spec, boundaries=chicago_districts, ctx=sd, now=NOW)
    assert both.rows_in == 6 == both.accepted.num_rows + both.rejects.num_rows
    assert both.rejects["rule"].to_pylist() == ["duplicate_id", "duplicate_id"]  # the older copies of the two
    assert both.rejects["ingest_id"].to_pylist() == ["i1", "i1"]
    assert both.accepted.num_rows == 4  # 2 unchanged + the corrected row + the older, different row


def test_duplicate_source_id_is_quarantined(chicago_spec, chicago_districts, sd):
    spec = chicago_spec.model_copy(update={"id": chicago_spec.id.model_copy(update={"columns": ["district"]})})
    rows = [GOOD, dict(GOOD, loc_cat="park"), dict(GOOD, district="3")]
    result = parse_records(bronze(rows), spec, boundaries=chicago_districts, ctx=sd, now=NOW)
    assert result.rejects["rule"].to_pylist() == ["duplicate_id"]
    assert "already used by row 1" in result.rejects["reason"][0].as_py()
    assert result.accepted.num_rows == 2


def test_canonical_fields(chicago_spec, chicago_districts, sd):
    result = parse_records(bronze([GOOD]), chicago_spec, boundaries=chicago_districts, ctx=sd, now=NOW)
    row = result.accepted.to_pylist()[0]
    # 12:30 in Chicago on 1 May (CDT, UTC-5) is 17:30 UTC
    assert row["occurred_at"] == datetime(2016, 5, 1, 17, 30, tzinfo=timezone.utc)
    assert row["category"] == "aggravated_assault" and row["category_mapped"] is True
    assert row["district"] == "2"
    assert row["h3"] and len(row["h3"]) == 15
    import h3

    assert h3.get_resolution(row["h3"]) == 12
    assert h3.cell_to_parent(row["h3"], 9) == h3.latlng_to_cell(41.7922, -87.6277, 9)
    import shapely

    assert shapely.from_wkb(row["geometry"]).equals(shapely.Point(-87.6277, 41.7922))


def test_unknown_category_maps_to_other_with_flag(chicago_spec, chicago_districts, sd):
    spec = chicago_spec.model_copy(update={"fields": {**chicago_spec.fields,
                                                      "category": chicago_spec.fields["location_type"]}})
    result = parse_records(bronze([GOOD]), spec, boundaries=chicago_districts, ctx=sd, now=NOW)
    row = result.accepted.to_pylist()[0]
    assert (row["category"], row["source_category"], row["category_mapped"]) == ("other", "street", False)


@pytest.mark.parametrize(
    "raw,fmt,tz,expected",
    [
        ("2016-03-13 02:30", "%Y-%m-%d %H:%M", "America/Chicago", datetime(2016, 3, 13, 8, 30)),  # spring gap: shifted forward
        ("2016-11-06 01:30", "%Y-%m-%d %H:%M", "America/Chicago", datetime(2016, 11, 6, 6, 30)),  # repeated hour: first (CDT)
        ("2019-01-01T19:50:00Z", "iso8601", None, datetime(2019, 1, 1, 19, 50)),
        ("2019-01-01T19:50:00-05:00", "iso8601", "America/Chicago", datetime(2019, 1, 2, 0, 50)),
        ("2019-07-01", "%Y-%m-%d", "America/New_York", datetime(2019, 7, 1, 4, 0)),
    ],
)
def test_parse_timestamps(raw, fmt, tz, expected):
    import numpy as np

    values, failed = parse_timestamps(np.array([raw], dtype=object), fmt, tz)
    assert not failed[0]
    assert values[0] == np.datetime64(expected, "us")


@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("content_ids", [True, False])
def test_batches_with_state_equal_one_call(chicago_spec, chicago_districts, sd, size, content_ids):
    """Parsing a refresh's rows in batches, carrying a ParseState, gives what one call over all gives:
    duplicate ids across batches (first wins, naming its row and file), content-id occurrence counters."""
    from jobs.ingest.records import ParseState

    spec = chicago_spec if content_ids else chicago_spec.model_copy(
        update={"id": chicago_spec.id.model_copy(update={"columns": ["district"]})})
    rows = [GOOD, GOOD, dict(GOOD, loc_cat="park"), dict(GOOD, date=""), GOOD, dict(GOOD, district="3"),
            dict(GOOD, district="3", loc_cat="park"), GOOD]
    newer = bronze(rows[:5])
    newer = newer.set_column(newer.schema.get_field_index("ingest_id"), "ingest_id", pa.array(["i2"] * 5))
    newer = newer.set_column(newer.schema.get_field_index("source_file"), "source_file", pa.array(["g.csv"] * 5))
    table = pa.concat_tables([newer, bronze(rows)])
    whole = parse_records(table, spec, boundaries=chicago_districts, ctx=sd, now=NOW)
    state = ParseState()
    parts = [parse_records(table.slice(k, size), spec, boundaries=chicago_districts, ctx=sd, now=NOW, state=state)
             for k in range(0, table.num_rows, size)]
    assert pa.concat_tables([p.accepted for p in parts]).equals(whole.accepted)
    assert pa.concat_tables([p.rejects for p in parts]).equals(whole.rejects)
    assert whole.rejects.num_rows >= 3


def test_seen_ids_find_what_a_dict_finds():
    """The sorted runs of id hashes a ParseState keeps answer as a dict of every (h1, h2) would, across
    merges and with ids sharing h1."""
    import numpy as np

    from jobs.ingest.records import _SeenIds

    rng = np.random.default_rng(3)
    seen, ref = _SeenIds(), {}
    seen.LARGEST_RUN = 300  # runs merge, then stop merging, within the test
    for batch in range(40):
        h1 = rng.integers(0, 50, 64).astype(np.uint64)  # few h1 values: many ids share one
        h2 = rng.integers(0, 2**63, 64, dtype=np.int64).astype(np.uint64)
        if batch:  # some ids come again
            again = rng.choice(len(ref), 8, replace=False)
            keys = list(ref)
            for k, j in enumerate(again):
                h1[k], h2[k] = keys[j]
        pos, rows, files = seen.find(h1, h2)
        want = {k: ref[(h1[k], h2[k])] for k in range(64) if (h1[k], h2[k]) in ref}
        assert dict(zip(pos.tolist(), zip(rows.tolist(), files.tolist()))) == want
        fresh = np.ones(64, dtype=bool)
        fresh[pos] = False
        _, first = np.unique(np.stack([h1, h2]), axis=1, return_index=True)  # one entry per new pair
        fresh &= np.isin(np.arange(64), first)
        row = np.arange(64, dtype=np.int64) + 1000 * batch
        file = np.full(64, batch % 3, dtype=np.uint32)
        seen.add(h1[fresh], h2[fresh], row[fresh], file[fresh])
        ref.update({(h1[k], h2[k]): (int(row[k]), int(file[k])) for k in np.flatnonzero(fresh)})
    assert len(seen) == len(ref)
    assert len(seen.runs) > 1


def test_empty_check_matches_trimming_on_every_code_point():
    """``_is_empty`` (length 0 or all Unicode whitespace) says what trimming then comparing with "" says."""
    import pyarrow.compute as pc

    from jobs.ingest.records import _is_empty

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    values = pa.array(chars + [c * 2 for c in chars] + [" " + c + " " for c in chars] + ["", None, " a "])
    trimmed = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(values), ""), True).to_numpy(zero_copy_only=False)
    assert (_is_empty(values) == trimmed).all()


def test_iso_fast_path_takes_offsets_without_colon():
    """Parquet timestamps reach bronze as ``...+0000``: the column-wise path reads them as the general one."""
    import numpy as np

    from jobs.ingest.records import _iso_timestamps

    raw = ["2017-12-04T06:00:27.000000+0000", "2017-12-04 06:00:27-0530", "2017-12-04T06:00:27Z", ""]
    fast = _iso_timestamps(pa.array(raw), "iso8601", None)
    assert fast is not None
    slow, failed = parse_timestamps(np.array(raw[:3] + ["2017-12-04T06:00:27+00:00x"], dtype=object), "%Y", None)
    assert fast[0][:3].tolist() == slow[:3].tolist()
    assert np.isnat(fast[0][3]) and not fast[1].any()
