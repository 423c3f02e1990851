"""File-level bad input: malformed lines, encodings, empty files, missing columns."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from jobs.ingest.readers import SourceFileError, read_source

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
    from jobs.ingest import text as csv_text

    lines = [HEADER.rstrip("\n")] + [ROW.rstrip("\n")] * 5 + ["2016-05-01 12:30,street"]  # too few fields
    lines += [ROW.rstrip("\n").replace("street", '"street')] + [ROW.rstrip("\n").replace("street", '"st""r"')]
    lines += [ROW.rstrip("\n")] * 3 + [ROW.rstrip("\n").replace("street", "st\xe9")]
    text = "\r\n".join(lines[:6]) + "\r\n" + "\n".join(lines[6:9]) + "\r" + "\n".join(lines[9:]) + "\n"
    data = text.encode("latin-1")
    data = gzip.compress(data) if compress else data
    path = write(tmp_path, "c.csv.gz" if compress else "c.csv", data)
    whole = read_source(chicago_spec, path).table
    monkeypatch.setattr(csv_text, "CHUNK_BYTES", chunk)
    chunked = read_source(chicago_spec, path).table
    assert chunked.drop_columns(["ingested_at"]).equals(whole.drop_columns(["ingested_at"]))
    assert whole.num_rows == 12
    errors = [e for e in whole["read_error"].to_pylist() if e]
    assert errors[0].startswith("line 7:") and "expected 5 fields" in errors[0]
    assert errors[1].startswith("line 8:") and "unterminated quote" in errors[1]
    assert "not valid" in errors[2]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "Etc/UTC", "America/Chicago", "Europe/London", "+02:00", "-03:30",
                                "Asia/Kolkata"])
def test_parquet_timestamps_as_text_equal_strftime(unit, tz):
    """Typed Parquet times become the text strftime writes (the fast cast, unchecked, over the whole range the
    unit holds: years before 1000, negative years, zones with seconds in their historical offsets)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from jobs.ingest.readers import _timestamp_cast_text, _timestamp_text

    rng = np.random.default_rng(11)
    limit = {"s": 10**11, "ms": 10**14, "us": 10**17, "ns": 9 * 10**18}[unit]
    col = pa.array(rng.integers(-limit, limit, 5000), pa.int64()).cast(pa.timestamp(unit, tz=tz))
    col = pc.if_else(pa.array(rng.random(5000) < 0.1), pa.scalar(None, col.type), col)
    fmt = "%Y-%m-%dT%H:%M:%S%z" if tz else "%Y-%m-%dT%H:%M:%S"
    want = pc.strftime(col, format=fmt)
    assert _timestamp_cast_text(col).equals(want)
    assert _timestamp_text(col, fmt).equals(want)


def test_unterminated_quotes_found_as_line_by_line():
    """The quote check over whole chunks (most lines quoted) finds the lines a per-line match finds."""
    import re

    import numpy as np

    from jobs.ingest.text import _scan_lines, _unsplittable_lines

    rng = np.random.default_rng(5)
    for trial in range(400):
        delimiter = str(rng.choice([",", ";", "\t"]))
        quoted = rng.random()
        lines = ["".join(rng.choice(['"', delimiter, "a", " ", '""', "é"], rng.integers(0, 10)))
                 if rng.random() < quoted else "".join(rng.choice(["a", delimiter], rng.integers(0, 6)))
                 for _ in range(rng.integers(1, 25))]
        brk = str(rng.choice(["\n", "\r\n", "\r"]))
        data = (brk.join(lines) + (brk if trial % 2 else "")).encode()
        got = _unsplittable_lines(data, _scan_lines(data), 1, delimiter, '"')
        field = '(?:"(?:[^"]|"")*"[^' + delimiter + ']*|[^' + delimiter + '"][^' + delimiter + ']*|)'
        text = data.decode()
        split = re.split(r"\r\n|\n|\r", text)
        split = split[:-1] if text.endswith(("\n", "\r")) else split
        want = {i for i, line in enumerate(split) if i >= 1 and '"' in line
                and not re.fullmatch(field + "(?:" + re.escape(delimiter) + field + ")*", line, re.S)}
        assert set(got) == want, (data, delimiter)


def test_producer_waits_for_its_writer_and_never_for_nothing(monkeypatch):
    """A streamed producer waits while Arrow memory is over its budget (a writer's queue), until it shrinks;
    memory that does not shrink (its own) stops the wait after the patience."""
    import threading
    import time

    import pyarrow as pa

    from jobs.ingest import readers

    monkeypatch.setattr(readers, "WRITER_BACKLOG_BYTES", 16 << 20)
    base = pa.total_allocated_bytes()  # what the test process holds already
    queue = [pa.allocate_buffer(32 << 20)]  # 32 MB of the Arrow pool "held by the writer"
    t = time.monotonic()
    readers.wait_for_writer(own=base + (32 << 20))  # within its own size plus the budget: no wait
    assert time.monotonic() - t < 0.05
    threading.Timer(0.3, queue.clear).start()  # the writer releases it
    t = time.monotonic()
    readers.wait_for_writer(own=base, patience_s=5)
    assert 0.25 < time.monotonic() - t < 4
    mine = pa.allocate_buffer(32 << 20)  # never released while we wait: patience ends the wait
    t = time.monotonic()
    readers.wait_for_writer(own=base, patience_s=0.2)
    assert 0.15 < time.monotonic() - t < 2
    del mine


@pytest.mark.parametrize("chunk", [16, 200, 1 << 20])
@pytest.mark.parametrize("compress", [False, True])
def test_jsonl_streams_in_chunks(tmp_path, monkeypatch, chunk, compress):
    """JSON Lines are read in chunks cut at "\\n" (a key seen first late in the file still becomes a column of
    every row; malformed lines keep their physical line number; "\\r\\n" ends a record; U+2028 inside a string is
    not a break): any chunk and batch size gives the rows of one read of the whole file."""
    from jobs.ingest import readers
    from jobs.ingest.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[3] / "specs" / "synthetic" / "osint.yaml")
    lines = ['{"post_id": "p1", "platform": "x", "language": "en", "posted_at": "2017-01-01T00:00:00Z", "urls": [], '
             '"author": "@a", "text": "hello\u2028there", "lon": -87.6, "lat": 41.8}',
             '', '{"post_id": "p2", "author": "@b", "text": "x"}\r', 'not json', '[1, 2]',
             '{"post_id": "p3", "author": "@c", "text": "y", "place_name": "Loop", "mentions": ["@a"]}']
    data = ("\n".join(lines) + "\n").encode()
    path = write(tmp_path, "p.jsonl.gz" if compress else "p.jsonl", gzip.compress(data) if compress else data)
    monkeypatch.setattr(readers, "JSONL_CHUNK_BYTES", 1 << 30)
    whole = read_source(spec, path).table
    monkeypatch.setattr(readers, "JSONL_CHUNK_BYTES", chunk)
    monkeypatch.setattr(readers, "PARQUET_BATCH_ROWS", 2)
    chunked = read_source(spec, path).table
    assert chunked.drop_columns(["ingested_at"]).equals(whole.drop_columns(["ingested_at"]))
    assert whole.num_rows == 5 and whole["source_row"].to_pylist() == [1, 2, 3, 4, 5]
    assert whole["place_name"].to_pylist() == [None, None, None, None, "Loop"]
    assert whole["text"][0].as_py() == "hello\u2028there" and whole["post_id"][1].as_py() == "p2"
    errors = [e for e in whole["read_error"].to_pylist() if e]
    assert errors[0].startswith("line 4:") and errors[1].startswith("line 5:") and "JSON object" in errors[1]
