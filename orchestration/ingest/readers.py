"""Read a source file, as declared by its spec, into bronze rows.

Bronze keeps every row as received: every source column as a string, plus the
lineage columns (``ingest_id``, ``source_file``, ``source_row``) and, for rows
the reader could not split or decode, ``read_rule``/``read_error``/``raw_line``.
Nothing is dropped here: a malformed row is still a bronze row, and the parser
turns it into a quarantine row with its reason, so that
``rows_in == accepted + quarantined`` holds by construction.

Errors that concern the whole file (it is missing, empty, or lacks a required
column) raise :class:`SourceFileError` before anything is written.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from jobs.ingest.spec import SourceSpec

#: Columns the reader adds; a source column with one of these names is an error.
BRONZE_COLUMNS = ("ingest_id", "source_file", "source_row", "read_rule", "read_error", "raw_line", "ingested_at",
                  "ingest_partition")


class SourceFileError(ValueError):
    """A whole file cannot be ingested (missing, empty, missing columns...)."""


def file_digest(path: Path) -> str:
    """SHA-256 of the file's content; of the decompressed content for gzip files.

    A gzip header records the compression time, so the same export compressed
    twice would otherwise look like two deliveries.
    """
    import gzip

    h = hashlib.sha256()
    with path.open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceFileError(f"{path}: corrupt gzip file: {exc}") from None
    return h.hexdigest()


def ingest_id_for(spec: SourceSpec, sha256: str) -> str:
    """Content-addressed receipt id: the same file for the same feed always gets the same id.

    Re-ingesting a file therefore replaces its earlier bronze rows instead of
    adding them again.
    """
    return hashlib.sha256(f"{spec.name}\x1f{sha256}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class RawBatch:
    """The bronze rows of one file and the receipt that identifies them."""

    table: pa.Table
    ingest_id: str
    source_file: str
    sha256: str


#: Bytes of decompressed text a CSV reader holds at once (a chunk ends at a line break); the bound on
#: ingest memory does not grow with the file.
CHUNK_BYTES = 32 << 20
#: Rows per record batch read from a Parquet file.
PARQUET_BATCH_ROWS = 256 * 1024


class RawStream:
    """The bronze rows of one file as record batches, read when iterated (each iteration reads the file
    again, so a commit that lost a race can write the receipt again).

    File-level errors found before any row (missing, empty, a missing column) are raised by
    :func:`open_source`; one found later (a UTF-16 file with a broken byte pair half-way, a CSV the parser
    refuses) is raised as :class:`SourceFileError` while iterating, before the receipt's one commit, and
    kept in :attr:`error` for callers whose writer wraps it.
    """

    def __init__(self, schema: pa.Schema, ingest_id: str, source_file: str, sha256: str, ingested_at: datetime,
                 produce) -> None:
        self.schema = schema
        self.ingest_id = ingest_id
        self.source_file = source_file
        self.sha256 = sha256
        self.ingested_at = ingested_at
        self.rows = 0
        self.error: SourceFileError | None = None
        self._produce = produce

    def batches(self, extra: dict[str, tuple[pa.DataType, object]] | None = None, *, to_writer: bool = True):
        """Record batches with the lineage columns (and ``extra`` constant columns: name -> (type, value));
        ``to_writer``: each waits for the writer's queue (:func:`wait_for_writer`)."""
        self.rows = 0
        self.error = None
        schema = self.stream_schema(extra)
        try:
            for data in self._produce():
                n = len(data)
                if not n:
                    continue
                cols = [data.column(f.name) if f.name in data.schema.names else pa.nulls(n, f.type)
                        for f in self.schema if f.name not in ("ingest_id", "source_file", "source_row",
                                                                  "ingested_at")]
                cols += [pa.repeat(pa.scalar(self.ingest_id, pa.string()), n),
                         pa.repeat(pa.scalar(self.source_file, pa.string()), n),
                         pa.array(np.arange(self.rows + 1, self.rows + n + 1, dtype=np.int64)),
                         pa.array(np.full(n, _us_epoch(self.ingested_at), dtype=np.int64)).cast(
                             pa.timestamp("us", tz="UTC"))]
                for name, (typ, value) in (extra or {}).items():
                    cols.append(pa.repeat(pa.scalar(value, typ), n))
                self.rows += n
                batch = pa.RecordBatch.from_arrays(cols, schema=schema)
                if to_writer:
                    wait_for_writer(own=batch.nbytes)
                yield batch
        except SourceFileError as exc:
            self.error = exc
            raise

    def stream_schema(self, extra: dict[str, tuple[pa.DataType, object]] | None = None) -> pa.Schema:
        return pa.schema([*self.schema, *(pa.field(n, t) for n, (t, _) in (extra or {}).items())])

    def reader(self, extra: dict[str, tuple[pa.DataType, object]] | None = None) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.stream_schema(extra), self.batches(extra))

    def read_all(self) -> pa.Table:
        return pa.Table.from_batches(list(self.batches(to_writer=False)), schema=self.schema)


#: Arrow memory (``pa.total_allocated_bytes``) beyond a producer's own above which it waits for its writer.
WRITER_BACKLOG_BYTES = 256 << 20


def wait_for_writer(own: int = 0, patience_s: float = 0.5) -> None:
    """Wait while the process holds more than ``own`` + :data:`WRITER_BACKLOG_BYTES` bytes of Arrow memory.

    delta-rs pulls a stream as fast as it is produced and queues the batches its Parquet encoder has not
    reached, without bound: a producer faster than the encoder (a Parquet file read as text, on a busy
    machine) held 2.7 GB more at 10 M rows. The batches it holds stay in pyarrow's memory pool until it
    releases them, so that pool's size is the queue's (a test writing 10 M rows this way peaked at 610 MB
    of RSS instead of growing with the rows). ``own``: what the producer itself holds (the batch it is
    about to give). Waiting stops once the pool shrinks below the limit, or when it has not shrunk for
    ``patience_s`` (the memory is not a writer's queue: never wait for nothing).
    """
    import time

    limit = own + WRITER_BACKLOG_BYTES
    held = pa.total_allocated_bytes()
    since = time.monotonic()
    while held > limit:
        time.sleep(0.005)
        now = pa.total_allocated_bytes()
        if now < held:
            held, since = now, time.monotonic()
        elif time.monotonic() - since > patience_s:
            return


def _us_epoch(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000 + t.microsecond


def read_source(spec: SourceSpec, path: str | Path, *, now: datetime | None = None) -> RawBatch:
    """Read one file of a feed into bronze rows, all in memory (tests, small files; ingestion streams
    with :func:`open_source`).

    Raises
    ------
    SourceFileError
        The file is missing or empty, its columns lack a required one, or it
        cannot be parsed at all; the message names the file and what to fix.
    """
    stream = open_source(spec, path, now=now)
    return RawBatch(table=stream.read_all(), ingest_id=stream.ingest_id, source_file=stream.source_file,
                    sha256=stream.sha256)


def open_source(spec: SourceSpec, path: str | Path, *, now: datetime | None = None,
                sha256: str | None = None) -> RawStream:
    """Check one file of a feed and return its bronze rows as a :class:`RawStream`.

    The receipt's id is the content hash of the whole file, computed in a first
    streaming pass (or given as ``sha256``); CSV and Parquet rows are then read
    in bounded chunks when the stream is iterated. JSON Lines and vector files
    are read whole (their schema is known only once every record is seen).

    Raises
    ------
    SourceFileError
        The file is missing or empty, its columns lack a required one, or it
        cannot be parsed at all; the message names the file and what to fix.
    """
    path = Path(path)
    if path.is_dir():
        raise SourceFileError(f"{path}: is a folder, not a file: give one file of the feed")
    if not path.exists():
        raise SourceFileError(f"{path}: file not found")
    if not path.is_file():
        raise SourceFileError(f"{path}: not a regular file (a device, pipe or socket): give a file of the feed")
    if path.stat().st_size == 0:
        raise SourceFileError(f"{path}: file is empty (0 bytes): expected a header row and data rows")
    kind = spec.format.kind
    try:
        sha = sha256 or file_digest(path)
        if kind == "csv":
            names, produce = _open_csv(spec, path)
        elif kind == "parquet":
            names, produce = _open_parquet(path)
        else:
            table = _read_jsonl(spec, path) if kind == "jsonl" else _read_vector(spec, path)
            names = [c for c in table.column_names if c not in ("read_rule", "read_error", "raw_line")]

            def produce(table=table):
                yield from table.to_batches()
    except OSError as exc:  # permission denied, a file that vanished while read...
        raise SourceFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except MemoryError:
        raise SourceFileError(f"{path}: too large to read into memory at once; split the file") from None
    ingest_id = ingest_id_for(spec, sha)

    clash = sorted(set(names) & set(BRONZE_COLUMNS))
    if clash:
        raise SourceFileError(f"{path}: source columns {clash} clash with reserved bronze column names")
    missing = [c for c in spec.required_columns if c not in names]
    if missing:
        hint = ""
        if kind == "csv" and len(names) == 1:
            other = next((d for d in ",;\t|" if d != spec.format.delimiter and d in names[0]), None)
            if other:
                hint = f" (the header splits on {other!r}, not {spec.format.delimiter!r}: wrong delimiter in the spec?)"
        raise SourceFileError(
            f"{path}: missing required column(s) {missing} for spec {spec.name!r}; "
            f"the file has columns {names}{hint}"
        )
    schema = pa.schema([*(pa.field(n, pa.string()) for n in names),
                        *(pa.field(n, pa.string()) for n in ("read_rule", "read_error", "raw_line")),
                        pa.field("ingest_id", pa.string()), pa.field("source_file", pa.string()),
                        pa.field("source_row", pa.int64()), pa.field("ingested_at", pa.timestamp("us", tz="UTC"))])

    def guarded():
        try:
            yield from produce()
        except OSError as exc:
            raise SourceFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
        except MemoryError:
            raise SourceFileError(f"{path}: too large to read into memory at once; split the file") from None

    return RawStream(schema, ingest_id, path.name, sha, now or datetime.now(timezone.utc), guarded)


def _open_csv(spec: SourceSpec, path: Path):
    """The CSV file's column names (read from its header) and a producer of its rows in chunks."""
    fmt = spec.format
    blocks = _text_chunks(spec, path)
    first = next(blocks, b"")
    if not first.strip():
        rest = next(blocks, None)
        if rest is None:
            raise SourceFileError(f"{path}: file is empty: expected a header row and data rows")
    blocks.close()
    if fmt.header:
        end = _first_break(first)
        header_line = first[:end].rstrip(b"\r")
        names = _header_names(header_line, fmt.delimiter, fmt.quotechar, spec.encoding)
    else:
        names = list(fmt.column_names or [])
    clash = sorted(set(names) & set(BRONZE_COLUMNS))
    if clash:
        raise SourceFileError(f"{path}: source columns {clash} clash with reserved bronze column names")
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise SourceFileError(f"{path}: duplicate column names in header: {dupes}")

    def produce():
        offset = 0  # physical lines before the chunk
        for k, chunk in enumerate(_text_chunks(spec, path)):
            table, lines = _read_csv_chunk(spec, path, chunk, names, skip=1 if (k == 0 and fmt.header) else 0,
                                           line_offset=offset)
            offset += lines
            yield from table.to_batches()

    return names, produce


def _first_break(data: bytes) -> int:
    """End of the first line (``\n``, ``\r\n`` or a lone ``\r``)."""
    nl, cr = data.find(b"\n"), data.find(b"\r")
    ends = [i for i in (nl, cr) if i >= 0]
    return min(ends) if ends else len(data)


def _text_chunks(spec: SourceSpec, path: Path, size: int | None = None):
    """The file's text as UTF-8 byte chunks, each ending at a line break (the last at the end of the file):
    decompressed, without a UTF-8 byte-order mark, transcoded from a declared non-UTF-8 encoding (bytes
    invalid in it pass through as invalid UTF-8, so their rows are flagged, never replaced), refused with
    the right words when it is UTF-16/32 under a spec that says otherwise."""
    import codecs
    import gzip

    size = size or CHUNK_BYTES
    with path.open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    enc = codecs.lookup(spec.encoding).name
    decoder = None if _is_utf8(spec.encoding) else codecs.getincrementaldecoder(spec.encoding)(errors="surrogateescape")
    try:
        with (gzip.open(path, "rb") if gz else path.open("rb")) as fh:
            head = fh.read(size)
            if not enc.startswith(("utf-16", "utf-32")):
                _refuse_wide_text(spec, path, head[:4096])
                if enc == "utf-8" and head.startswith(codecs.BOM_UTF8):
                    head = head[len(codecs.BOM_UTF8):]
            pending = b""
            consumed, newlines = 0, 0  # raw bytes and line feeds before the block being decoded
            block = head
            while True:
                last = not block
                if decoder is not None:
                    try:
                        text = decoder.decode(block, final=last)
                    except UnicodeDecodeError as exc:
                        line = newlines + block[: exc.start].count(b"\n") + 1
                        raise SourceFileError(
                            f"{path}: cannot be decoded as {spec.encoding}: {exc.reason} at byte "
                            f"{consumed + exc.start} (line {line}); check 'encoding' in the spec"
                        ) from None
                    consumed += len(block)
                    newlines += block.count(b"\n")
                    data = pending + text.encode("utf-8", errors="surrogateescape")
                else:
                    data = pending + block
                if last:
                    if data:
                        yield data
                    return
                cut = _last_break(data)
                if cut and len(data) >= size // 2:
                    yield data[:cut]
                    pending = data[cut:]
                else:
                    pending = data  # a line longer than a chunk, or a small first read: read on
                block = fh.read(size)
    except (EOFError, zlib.error) as exc:
        raise SourceFileError(f"{path}: corrupt gzip file: {exc}") from None
    except OSError as exc:
        if gz and not isinstance(exc, (FileNotFoundError, PermissionError)):
            raise SourceFileError(f"{path}: corrupt gzip file: {exc}") from None
        raise


def _last_break(data: bytes) -> int:
    """Position just after the last line break of ``data`` that is surely complete (0 when none): a
    trailing ``\r`` may be half of a ``\r\n`` that the next block completes."""
    nl = data.rfind(b"\n")
    cr = data.rfind(b"\r", 0, len(data) - 1)
    return max(nl, cr) + 1


def _refuse_wide_text(spec: SourceSpec, path: Path, head: bytes) -> None:
    import codecs

    bom = next((name for mark, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                                        (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
                if head.startswith(mark)), None)
    # mostly-ASCII UTF-16 text has a NUL in every other byte; no 8-bit text encoding has NULs
    nul_pairs = len(head) >= 4 and (head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4)
    if bom or nul_pairs:
        raise SourceFileError(
            f"{path}: looks like {bom or 'UTF-16'} ({'byte-order mark' if bom else 'a NUL byte between characters'}), "
            f"but the spec says encoding {spec.encoding!r}: set 'encoding: {(bom or 'UTF-16').lower()}' in the spec"
        )


def _read_csv_chunk(spec: SourceSpec, path: Path, data: bytes, names: list[str], *, skip: int,
                    line_offset: int) -> tuple[pa.Table, int]:
    """One chunk of whole lines -> bronze rows (without lineage) in file order, and its physical line count."""
    fmt = spec.format
    lines = _scan_lines(data)
    # lines the CSV parser must not see: an unterminated quote would swallow every later line into one
    # value, and a line over MAX_RECORD_BYTES would not fit its blocks; each is one malformed record
    ours = _unsplittable_lines(data, lines, skip, fmt.delimiter, fmt.quotechar)
    cleaned = _blank_lines(data, lines, ours) if ours else data

    def parse(threads: bool):
        invalid: list[tuple[int, str, str]] = []

        def on_invalid(row: pcsv.InvalidRow) -> str:
            invalid.append((row.number, row.text,
                            f"expected {row.expected_columns} fields, found {row.actual_columns}"))
            return "skip"

        # every value as received: binary first, decoded below so invalid UTF-8 is
        # caught per row instead of failing the whole file
        table = pcsv.read_csv(
            pa.BufferReader(cleaned),  # without BytesIO's copy of the chunk
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=skip, use_threads=threads,
                                          block_size=4 * MAX_RECORD_BYTES),
            parse_options=pcsv.ParseOptions(
                delimiter=fmt.delimiter, quote_char=fmt.quotechar, invalid_row_handler=on_invalid,
                newlines_in_values=False,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.binary() for n in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        return table, invalid

    try:
        table, invalid = parse(True)
        if invalid:  # rows the parser refused: read again on one thread, which numbers them
            table, invalid = parse(False)
    except pa.ArrowInvalid as exc:
        raise SourceFileError(f"{path}: cannot be read as CSV with delimiter {fmt.delimiter!r} and quote "
                              f"{fmt.quotechar!r}: {exc}") from None
    table = _decode_columns(table, spec.encoding)
    if ours or invalid:
        table = _with_malformed(table, names, lines, skip, ours, invalid, cleaned, line_offset)
    return table, len(lines.starts)


#: A record (CSV or JSON Lines line) longer than this is quarantined as malformed, never parsed: a
#: hostile or broken file must not make one value of megabytes (or a parser that cannot block it).
MAX_RECORD_BYTES = 1 << 20


@dataclass(frozen=True)
class _Lines:
    """Physical lines of a text file: byte offsets, line breaks excluded (``\n``, ``\r\n`` or a lone ``\r``)."""

    starts: "np.ndarray"
    ends: "np.ndarray"


def _scan_lines(data: bytes) -> _Lines:
    arr = np.frombuffer(data, dtype=np.uint8)
    if not len(arr):
        return _Lines(starts=np.zeros(1, dtype=np.int64), ends=np.zeros(1, dtype=np.int64))
    if b"\r" not in data:  # the common case: "\n" breaks only
        breaks = np.flatnonzero(arr == 10)
        starts = np.empty(len(breaks) + 1, dtype=np.int64)
        starts[0], starts[1:] = 0, breaks + 1
        ends = np.empty(len(breaks) + 1, dtype=np.int64)
        ends[:-1], ends[-1] = breaks, len(arr)
    else:
        nl = arr == 10
        cr = arr == 13
        lone_cr = cr.copy()  # the CSV parser breaks lines on a lone CR too
        lone_cr[:-1] &= ~nl[1:]
        breaks = np.flatnonzero(nl | lone_cr)
        starts = np.concatenate([[0], breaks + 1])
        ends = np.concatenate([breaks, [len(arr)]])
        # \r\n: the \r belongs to the break
        crlf = np.zeros(len(ends), dtype=bool)
        inner = ends[:-1]  # every end but the last is a break position
        crlf[:-1] = (inner > starts[:-1]) & nl[inner] & cr[np.maximum(inner - 1, 0)]
        ends = ends - crlf
    if len(starts) > 1 and starts[-1] == len(arr):  # nothing after the last break
        starts, ends = starts[:-1], ends[:-1]
    return _Lines(starts=starts, ends=ends)


def _unsplittable_lines(data: bytes, lines: _Lines, skip: int, delimiter: str, quotechar: str
                        ) -> dict[int, tuple[str, str]]:
    """Physical line index -> (why, the line as shown in quarantine), for lines over the size limit or with a
    quoted field never closed."""
    import re

    lengths = lines.ends - lines.starts
    out: dict[int, tuple[str, str]] = {}
    for i in np.flatnonzero(lengths > MAX_RECORD_BYTES):
        if i >= skip:
            out[int(i)] = (f"line is {int(lengths[i]):,} bytes, over the {MAX_RECORD_BYTES:,}-byte limit of a "
                           f"record", _shown(data[lines.starts[i]:lines.ends[i]]))
    if quotechar.encode() not in data:
        return out
    arr = np.frombuffer(data, dtype=np.uint8)
    # does a line hold a quote (each segment runs from a line's start to the next line's start)
    has_quote = np.logical_or.reduceat(arr == ord(quotechar), lines.starts) if len(arr) else np.zeros(0, bool)
    with_quote = np.flatnonzero(has_quote)
    with_quote = with_quote[(with_quote >= skip) & (lengths[with_quote] <= MAX_RECORD_BYTES)]
    if not len(with_quote):
        return out
    q = re.escape(quotechar)
    d = re.escape(delimiter)
    field = "(?:" + q + "(?:[^" + q + "]|" + q + q + ")*" + q + "[^" + d + "]*|[^" + d + q + "][^" + d + "]*|)"
    pattern = "^" + field + "(?:" + d + field + ")*$"
    if 2 * len(with_quote) >= len(lines.starts) and not (lengths > MAX_RECORD_BYTES).any() \
            and delimiter not in "\r\n" and quotechar not in "\r\n":
        # most lines hold a quote (a quoted export): RE2 over every line in place, each value running to the
        # next line's start. The line break it then ends with is neither a quote nor a delimiter, so it
        # joins the last field and changes no verdict; a line without a quote always matches.
        offsets = np.append(lines.starts, len(data)).astype(np.int64)
        every = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(lines.starts),
                                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])
        ok = pc.match_substring_regex(every, pattern).to_numpy(zero_copy_only=False)[with_quote]
    else:
        # RE2 over every line with a quote at once (linear time); a value ends at its line's end
        starts = lines.starts[with_quote]
        offsets = np.empty(2 * len(with_quote), dtype=np.int64)
        offsets[0::2], offsets[1::2] = starts, lines.ends[with_quote]
        whole = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(offsets) - 1,
                                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])
        whole = whole.take(pa.array(np.arange(0, len(offsets) - 1, 2)))
        ok = pc.match_substring_regex(whole, pattern).to_numpy(zero_copy_only=False)
    for i in with_quote[~ok]:
        out[int(i)] = (f"a quoted field opened with {quotechar!r} is not closed on this line "
                       f"(unterminated quote); the next line is read as the next record",
                       _shown(data[lines.starts[i]:lines.ends[i]]))
    return out


def _shown(raw: bytes, limit: int = 2000) -> str:
    """A line as quarantine shows it: the first ``limit`` bytes, and the length when cut."""
    text = raw[:limit].decode("utf-8", errors="replace")
    return text + (f"... ({len(raw):,} bytes)" if len(raw) > limit else "")


def _blank_lines(data: bytes, lines: _Lines, which: dict[int, str]) -> bytes:
    parts, pos = [], 0
    for i in sorted(which):
        parts.append(data[pos:lines.starts[i]])
        pos = lines.ends[i]
    parts.append(data[pos:])
    return b"".join(parts)


def _with_malformed(table: pa.Table, names: list[str], lines: _Lines, skip: int, ours: dict[int, str],
                    invalid: list, cleaned: bytes, line_offset: int = 0) -> pa.Table:
    """Put the lines the reader could not split back in file order, flagged as malformed."""
    # the parser numbers the non-blank lines of what it read (header included); ours are blank there
    clean = _scan_lines(cleaned)
    clean_len = clean.ends - clean.starts
    arr = np.frombuffer(cleaned, dtype=np.uint8)
    cr_only = (clean_len == 1) & (arr[np.minimum(clean.starts, max(len(arr) - 1, 0))] == 13) if len(arr) \
        else np.zeros(len(clean.starts), dtype=bool)
    nonblank = np.flatnonzero((clean_len > 0) & ~cr_only)
    records = nonblank[skip:]
    rows: list[tuple[int, str, str]] = []  # (physical line index, raw text, why)
    parser_lines = set()
    for number, text, why in invalid:
        line = int(nonblank[number - 1]) if number is not None and 0 < number <= len(nonblank) else None
        if line is not None:
            parser_lines.add(line)
        rows.append((line if line is not None else len(lines.starts), text, why))
    for i, (why, text) in ours.items():
        rows.append((i, text, why))
    good_lines = [int(x) for x in records if int(x) not in parser_lines and int(x) not in ours]
    if len(good_lines) != table.num_rows:  # cannot happen unless the parser counts differently: keep order of arrival
        good_lines = list(range(table.num_rows))
        rows = [(table.num_rows + k, t, w) for k, (_, t, w) in enumerate(rows)]
    shown = [text for _, text, _ in rows]
    extra = pa.table({
        **{n: pa.nulls(len(rows), pa.string()) for n in names},
        "read_rule": pa.array(["malformed_row"] * len(rows), pa.string()),
        "read_error": pa.array([f"line {line + 1 + line_offset}: {why}" for (line, _, why) in rows], pa.string()),
        "raw_line": pa.array(shown, pa.string()),
    }).select(table.column_names)
    order = pa.array(good_lines + [line for line, _, _ in rows], pa.int64())
    both = pa.concat_tables([table, extra.cast(table.schema)])
    return both.take(pc.sort_indices(order))


def _header_names(line: bytes, delimiter: str, quotechar: str, encoding: str) -> list[str]:
    import csv

    text = line.decode("utf-8-sig", errors="replace")
    row = next(csv.reader([text], delimiter=delimiter, quotechar=quotechar))
    return [c.strip() for c in row]


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8")


def _decode(data: bytes, encoding: str, path: Path) -> str:
    """Bytes -> text; an invalid byte becomes a lone surrogate (``surrogateescape``) for the row to flag.

    Only encodings in which an invalid byte cannot be escaped (UTF-16, for one)
    fail as a whole file.
    """
    try:
        return data.decode(encoding, errors="surrogateescape")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceFileError(
            f"{path}: cannot be decoded as {encoding}: {exc.reason} at byte {exc.start} (line {line}); "
            f"check 'encoding' in the spec"
        ) from None


def _bad_byte(text: str) -> tuple[int, int] | None:
    """Position and value of the first byte that ``surrogateescape`` kept undecoded, if any."""
    for i, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff":
            return i, ord(ch) - 0xDC00
    return None


def _text_bytes(spec: SourceSpec, path: Path) -> bytes:
    """The file's bytes for a text format: decompressed, without a UTF-8 byte-order mark, refused with
    the right words when it is UTF-16/32 under a spec that says otherwise."""
    import codecs

    data = _decompressed_bytes(path)
    enc = codecs.lookup(spec.encoding).name
    if enc.startswith(("utf-16", "utf-32")):
        return data
    _refuse_wide_text(spec, path, data[:4096])
    if enc == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    return data


def _decompressed_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        import gzip

        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceFileError(f"{path}: corrupt gzip file: {exc}") from None
    return raw


def _decode_columns(table: pa.Table, encoding: str) -> pa.Table:
    """Binary columns -> strings; rows with bytes invalid in the declared encoding get a read error."""
    n = table.num_rows
    bad_rows: dict[int, str] = {}
    hint = "; if the file is Latin-1 or Windows-1252, set 'encoding' in the spec" if _is_utf8(encoding) \
        else "; check 'encoding' in the spec"
    columns = []
    for name in table.column_names:
        col = table[name]
        try:
            columns.append(pc.cast(col, pa.string()))  # a view of the same bytes, once they validate
            continue
        except pa.ArrowInvalid:
            col = col.combine_chunks()
        values = []
        for i, value in enumerate(col.to_pylist()):
            if value is None:
                values.append(None)
                continue
            try:
                values.append(value.decode("utf-8"))
            except UnicodeDecodeError as exc:
                values.append(value.decode("utf-8", errors="replace"))
                bad_rows.setdefault(
                    i,
                    f"field {name!r}: byte 0x{value[exc.start]:02x} at position {exc.start} is not valid "
                    f"{encoding}{hint}",
                )
        columns.append(pa.array(values, pa.string()))
    table = pa.table(columns, names=table.column_names)
    rule = [None] * n
    err = [None] * n
    for i, msg in bad_rows.items():
        rule[i] = "invalid_encoding"
        err[i] = msg
    return (
        table.append_column("read_rule", pa.array(rule, pa.string()))
        .append_column("read_error", pa.array(err, pa.string()))
        .append_column("raw_line", pa.nulls(n, pa.string()))
    )


def _read_jsonl(spec: SourceSpec, path: Path) -> pa.Table:
    import json

    data = _text_bytes(spec, path)
    text = _decode(data, spec.encoding, path)
    expected = _json_types(spec)
    records, keys = [], {}
    # records end at "\n" only: U+2028 and other separators str.splitlines() breaks on are valid inside JSON strings
    for number, line in enumerate(text.split("\n"), start=1):
        line = line[:-1] if line.endswith("\r") else line
        if not line.strip():
            continue
        bad = _bad_byte(line)
        shown = line.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace") if bad else line
        size = len(line.encode("utf-8", errors="surrogateescape"))
        if size > MAX_RECORD_BYTES:
            records.append({"read_rule": "malformed_row", "raw_line": _shown(shown.encode("utf-8")), "read_error":
                            f"line {number}: line is {size:,} bytes, over the {MAX_RECORD_BYTES:,}-byte limit of a "
                            f"record"})
            continue
        try:
            value = json.loads(line)
            if not isinstance(value, dict):
                raise ValueError(f"expected a JSON object, found {type(value).__name__}")
        except (ValueError, RecursionError) as exc:
            why = exc if isinstance(exc, ValueError) else "nested too deeply"
            records.append({"read_rule": "malformed_row", "read_error": f"line {number}: {why}", "raw_line": shown})
            continue
        reserved = sorted(set(value) & set(BRONZE_COLUMNS))
        if reserved:
            raise SourceFileError(f"{path}: line {number}: keys {reserved} clash with reserved bronze column names")
        if bad:
            where = next((f"field {k!r}: " for k, v in value.items() if _bad_byte(json.dumps(v, ensure_ascii=False))), "")
            records.append({"read_rule": "invalid_encoding", "raw_line": shown, "read_error":
                            f"{where}byte 0x{bad[1]:02x} at character {bad[0]} of line {number} is not valid "
                            f"{spec.encoding}" + ("; if the file is Latin-1 or Windows-1252, set 'encoding' in the spec"
                                                  if _is_utf8(spec.encoding) else "; check 'encoding' in the spec")})
            continue
        flat = {k: (v if v is None or isinstance(v, str) else json.dumps(v) if isinstance(v, (list, dict)) else str(v))
                for k, v in value.items()}
        wrong = next((f"line {number}: key {k!r}{_json_target(spec, k)}: {_json_type(value[k])} where "
                      f"{' or '.join(t for t in expected[k] if t != 'null')} is expected"
                      for k in value if k in expected and _json_type(value[k]) not in expected[k]), None)
        if wrong:
            flat.update(read_rule="invalid_value", read_error=wrong)  # raw: the fields, so identifiers can be hashed
        keys.update(dict.fromkeys(k for k in flat if k not in ("read_rule", "read_error", "raw_line")))
        records.append(flat)
    if not records:
        raise SourceFileError(f"{path}: file has no JSON records")
    names = [k for k in keys if k not in ("read_rule", "read_error", "raw_line")]
    schema = pa.schema([(k, pa.string()) for k in [*names, "read_rule", "read_error", "raw_line"]])
    return pa.Table.from_pylist(records, schema=schema)


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "an array" if isinstance(value, list) else "an object"


def _json_types(spec: SourceSpec) -> dict[str, tuple[str, ...]]:
    """Source key -> the JSON types its canonical field takes (null is always allowed: an empty value)."""
    from jobs.schemas import CANONICAL

    schema = CANONICAL[spec.table]
    out: dict[str, tuple[str, ...]] = {}
    for name, f in spec.fields.items():
        t = schema.field(name).type
        if pa.types.is_list(t):
            allowed = ("null", "an array", "text")  # a JSON array, or ';'-separated text
        elif pa.types.is_integer(t) or pa.types.is_floating(t):
            allowed = ("null", "a number", "text")
        elif pa.types.is_boolean(t):
            allowed = ("null", "a boolean", "text")
        else:
            allowed = ("null", "text", "a number", "a boolean")
        for col in f.source_columns:
            out[col] = allowed
    for col in ([spec.coordinates.x, spec.coordinates.y] if spec.coordinates and not spec.coordinates.from_geometry
                else []) + list(spec.id.columns or []):
        out[col] = ("null", "a number", "text")
    return out


def _json_target(spec: SourceSpec, key: str) -> str:
    field = next((n for n, f in spec.fields.items() if key in f.source_columns), None)
    return f" (field {field!r})" if field else ""


def _open_parquet(path: Path):
    """The Parquet file's column names and a producer of its rows as text, one batch at a time."""
    import pyarrow.parquet as pq

    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceFileError(f"{path}: not a readable Parquet file (truncated or corrupt?): {exc}") from None

    def produce():
        try:
            with pq.ParquetFile(path) as f:
                for batch in f.iter_batches(batch_size=PARQUET_BATCH_ROWS, use_threads=True):
                    yield pa.RecordBatch.from_arrays([_as_text(c) for c in batch.columns], names=batch.schema.names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceFileError(f"{path}: not a readable Parquet file (truncated or corrupt?): {exc}") from None

    return names, produce


def _read_parquet(path: Path) -> pa.Table:
    names, produce = _open_parquet(path)
    return pa.Table.from_batches(list(produce()), schema=pa.schema([(n, pa.string()) for n in names]))


def _as_text(col: pa.Array) -> pa.Array:
    """A typed column as the text bronze keeps: nested values as JSON, binary as hex, times as ISO 8601."""
    import json

    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.cast(pa.string())
    if pa.types.is_nested(t):
        return pa.array([None if v is None else json.dumps(v, default=str) for v in col.to_pylist()], pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.array([None if v is None else v.hex() for v in col.to_pylist()], pa.string())
    if pa.types.is_timestamp(t):
        fmt = "%Y-%m-%dT%H:%M:%S%z" if t.tz else "%Y-%m-%dT%H:%M:%S"
        return _timestamp_text(col, fmt)
    return pc.cast(col, pa.string())


def _read_vector(spec: SourceSpec, path: Path) -> pa.Table:
    import pyogrio
    import shapely

    try:
        meta, table = pyogrio.read_arrow(path, layer=spec.format.layer)
    except Exception as exc:  # pyogrio raises its own DataSourceError/DataLayerError
        raise SourceFileError(f"{path}: cannot read as {spec.format.kind}: {exc}") from None
    geom_name = meta["geometry_name"] or "wkb_geometry"
    geoms = shapely.from_wkb(table[geom_name].combine_chunks().to_numpy(zero_copy_only=False))
    points = shapely.point_on_surface(geoms)
    out = {n: pc.cast(table[n], pa.string()) for n in table.column_names if n != geom_name}
    out["geometry_x"] = pa.array([None if g is None else repr(float(x)) for g, x in zip(geoms, shapely.get_x(points))], pa.string())
    out["geometry_y"] = pa.array([None if g is None else repr(float(y)) for g, y in zip(geoms, shapely.get_y(points))], pa.string())
    return pa.table(out)


def _timestamp_text(col: pa.Array, fmt: str) -> pa.Array:
    """``pc.strftime(col, format=fmt)`` for ``fmt`` ``%Y-%m-%dT%H:%M:%S[%z]``, about 30x faster.

    Arrow's cast of a naive timestamp to text writes the same digits (fraction included, at the column's
    unit) with a space for the ``T``; a zoned column is cast as its local wall time and given its UTC offset
    (``+hhmm``, from the difference of the two). A sample of each column is compared with ``strftime``;
    a column whose sample differs is formatted by ``strftime``.
    """
    text = _timestamp_cast_text(col)
    n = len(col)
    sample = pa.array(np.unique(np.linspace(0, max(n - 1, 0), num=min(n, 64)).astype(np.int64)))
    if n and not pc.strftime(col.take(sample), format=fmt).equals(text.take(sample)):
        return pc.strftime(col, format=fmt)
    return text


def _timestamp_cast_text(col: pa.Array) -> pa.Array:
    """The fast path of :func:`_timestamp_text`, unchecked."""
    naive = pa.timestamp(col.type.unit)
    local = pc.local_timestamp(col) if col.type.tz else col
    text = pc.replace_substring(pc.cast(local.cast(naive), pa.string()), " ", "T", max_replacements=1)
    if col.type.tz:
        per_minute = {"s": 60, "ms": 60_000, "us": 60_000_000, "ns": 60_000_000_000}[col.type.unit]
        shift = pc.fill_null(pc.subtract(local.cast(naive).cast(pa.int64()), col.cast(naive).cast(pa.int64())), 0)
        shift = shift.to_numpy(zero_copy_only=False)
        minutes = np.sign(shift) * (np.abs(shift) // per_minute)  # toward zero, as %z cuts a zone's seconds
        offsets, which = np.unique(minutes, return_inverse=True)
        words = pa.array([f"{'-' if m < 0 else '+'}{abs(int(m)) // 60:02d}{abs(int(m)) % 60:02d}" for m in offsets],
                         pa.string())
        text = pc.binary_join_element_wise(text, words.take(pa.array(which.astype(np.int64))), "")
    return text
