"""Delimited text files (CSV and the like) read as bronze rows in bounded chunks, with every line the CSV
parser could not take (unterminated quote, a line over the record limit, too few or many fields, bytes
invalid in the declared encoding) kept as a flagged row with its physical line number. The chunker
(:func:`_text_chunks`: decompressed, decoded, cut at line breaks) serves JSON Lines too.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from jobs.ingest.errors import SourceFileError
from jobs.ingest.spec import SourceSpec

#: Columns the reader adds; a source column with one of these names is an error.
BRONZE_COLUMNS = ("ingest_id", "source_file", "source_row", "read_rule", "read_error", "raw_line", "ingested_at",
                  "ingest_partition")

#: Bytes of decompressed text a CSV reader holds at once (a chunk ends at a line break); the bound on
#: ingest memory does not grow with the file.
CHUNK_BYTES = 32 << 20


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


def _text_chunks(spec: SourceSpec, path: Path, size: int | None = None, *, newline_only: bool = False):
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
                cut = data.rfind(b"\n") + 1 if newline_only else _last_break(data)
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


def _bad_byte(text: str) -> tuple[int, int] | None:
    """Position and value of the first byte that ``surrogateescape`` kept undecoded, if any."""
    for i, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff":
            return i, ord(ch) - 0xDC00
    return None


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
