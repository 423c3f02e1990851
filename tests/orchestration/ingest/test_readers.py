"""File-level bad input: malformed lines, encodings, empty files, missing columns."""

from __future__ import annotations

import gzip

import pytest

from orchestration.ingest.readers import SourceFileError, read_source

HEADER = "date,loc_cat,longitude,latitude,district\n"
ROW = "2016-05-01 12:30,street,-87.6277,41.7922,2\n"


def write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_rows_as_received_with_lineage(tmp_path, chicago_spec):
    batch = read_source(chicago_spec, write(tmp_path, "a.csv", (HEADER + ROW * 3).encode()))
    t = batch.table
    assert t.num_rows == 3
    assert t["source_row"].to_pylist() == [1, 2, 3]
    assert set(t["source_file"].to_pylist()) == {"a.csv"}
    assert t["longitude"][0].as_py() == "-87.6277"  # text, as received


def test_ingest_id_is_content_addressed(tmp_path, chicago_spec):
    a = read_source(chicago_spec, write(tmp_path, "a.csv", (HEADER + ROW).encode()))
    b = read_source(chicago_spec, write(tmp_path, "b.csv", (HEADER + ROW).encode()))
    c = read_source(chicago_spec, write(tmp_path, "c.csv", (HEADER + ROW + ROW).encode()))
    assert a.ingest_id == b.ingest_id != c.ingest_id


def test_too_few_fields_kept_in_file_order(tmp_path, chicago_spec):
    data = HEADER + ROW + "2016-05-01 12:30,street,-87.6\n" + ROW
    t = read_source(chicago_spec, write(tmp_path, "a.csv", data.encode())).table
    assert t.num_rows == 3
    assert t["read_rule"].to_pylist() == [None, "malformed_row", None]
    assert t["raw_line"][1].as_py() == "2016-05-01 12:30,street,-87.6"
    assert "expected 5 fields, found 3" in t["read_error"][1].as_py()


def test_latin1_file_declared_utf8_is_quarantined_per_row(tmp_path, chicago_spec):
    data = (HEADER + ROW).encode() + "2016-05-01 12:30,caf\u00e9,-87.6277,41.7922,2\n".encode("latin-1")
    t = read_source(chicago_spec, write(tmp_path, "latin1.csv", data)).table
    assert t["read_rule"].to_pylist() == [None, "invalid_encoding"]
    assert "0xe9" in t["read_error"][1].as_py() and "encoding" in t["read_error"][1].as_py()


def test_latin1_file_declared_latin1_is_read(tmp_path, chicago_spec):
    spec = chicago_spec.model_copy(update={"encoding": "latin-1"})
    data = HEADER.encode() + "2016-05-01 12:30,caf\u00e9,-87.6277,41.7922,2\n".encode("latin-1")
    t = read_source(spec, write(tmp_path, "latin1.csv", data)).table
    assert t["loc_cat"].to_pylist() == ["caf\u00e9"]
    assert t["read_rule"].to_pylist() == [None]


def test_gzip_is_read(tmp_path, chicago_spec):
    t = read_source(chicago_spec, write(tmp_path, "a.csv.gz", gzip.compress((HEADER + ROW).encode()))).table
    assert t.num_rows == 1


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("empty.csv", b"", "file is empty"),
        ("blank.csv", b"\n\n", "file is empty"),
        ("nocol.csv", b"date,loc_cat,longitude,district\n2016-05-01 12:30,street,-87.6,2\n", "missing required column(s) ['latitude']"),
        ("reserved.csv", (HEADER.strip() + ",source_row\n").encode(), "reserved bronze column"),
    ],
)
def test_file_level_errors(tmp_path, chicago_spec, name, data, message):
    path = write(tmp_path, name, data)
    with pytest.raises(SourceFileError) as err:
        read_source(chicago_spec, path)
    assert message in str(err.value)
    assert name in str(err.value)


def test_missing_file(tmp_path, chicago_spec):
    with pytest.raises(SourceFileError, match="file not found"):
        read_source(chicago_spec, tmp_path / "nope.csv")


def test_header_only_file_has_no_rows(tmp_path, chicago_spec):
    assert read_source(chicago_spec, write(tmp_path, "h.csv", HEADER.encode())).table.num_rows == 0


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
@pytest.mark.parametrize("compress", [False, True])
def test_chunked_read_equals_whole_read(tmp_path, chicago_spec, monkeypatch, chunk, compress):
    """The CSV reader streams the file in chunks cut at line breaks: any chunk size gives the same bronze
    rows, malformed lines (too few fields, unterminated quotes) in file order with their physical line."""
    from orchestration.ingest import readers

    lines = [HEADER.rstrip("\n")] + [ROW.rstrip("\n")] * 5 + ["2016-05-01 12:30,street"]  # too few fields
    lines += [ROW.rstrip("\n").replace("street", '"street')] + [ROW.rstrip("\n").replace("street", '"st""r"')]
    lines += [ROW.rstrip("\n")] * 3 + [ROW.rstrip("\n").replace("street", "st\xe9")]
    text = "\r\n".join(lines[:6]) + "\r\n" + "\n".join(lines[6:9]) + "\r" + "\n".join(lines[9:]) + "\n"
    data = text.encode("latin-1")
    data = gzip.compress(data) if compress else data
    path = write(tmp_path, "c.csv.gz" if compress else "c.csv", data)
    whole = read_source(chicago_spec, path).table
    monkeypatch.setattr(readers, "CHUNK_BYTES", chunk)
    chunked = read_source(chicago_spec, path).table
    assert chunked.drop_columns(["ingested_at"]).equals(whole.drop_columns(["ingested_at"]))
    assert whole.num_rows == 12
    errors = [e for e in whole["read_error"].to_pylist() if e]
    assert errors[0].startswith("line 7:") and "expected 5 fields" in errors[0]
    assert errors[1].startswith("line 8:") and "unterminated quote" in errors[1]
    assert "not valid" in errors[2]
